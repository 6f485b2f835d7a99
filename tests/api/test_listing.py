"""List calls page and filter as SageMaker's: boto3's paginators return every record once,
NameContains / StatusEquals / CreationTime* / LastModifiedTime* / SortBy / SortOrder filter
and order, and a page holds 10 rows unless MaxResults says otherwise."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bigmart.api import listing
from bigmart.local.jobs import JobStore
from bigmart.local.requests import time_of

from .conftest import running_api

#: When the seeded records were created: one every 10 s from here, in name order.
EPOCH = 1_700_000_000
STATUSES = ("Completed", "Failed", "Stopped")
#: (paginator, answer's list, name field, how many of the seeded rows it lists)
OPERATIONS = [
    ("list_training_jobs", "TrainingJobSummaries", "TrainingJobName", 23),
    ("list_transform_jobs", "TransformJobSummaries", "TransformJobName", 23),
    ("list_endpoints", "Endpoints", "EndpointName", 16),  # Deleted ones are not listed
    ("list_endpoint_configs", "EndpointConfigs", "EndpointConfigName", 23),
    ("list_models", "Models", "ModelName", 23),
]


def _seed(store: JobStore) -> None:
    """23 records of every kind named pg-00..pg-22, created 10 s apart; every third endpoint
    Deleted; two training jobs of another name. The live endpoints are OutOfService, not
    InService: the api would start an InService one's (absent) server again at start-up."""
    for index in range(23):
        name = f"pg-{index:02d}"
        for kind in ("training", "transform"):
            store.create(name, kind, {}, STATUSES[index % 3])
            store.update(name, kind=kind, created_at=EPOCH + 10 * index, ended_at=EPOCH + 500)
        status = "Deleted" if index % 3 == 2 else ("OutOfService" if index % 2 else "Failed")
        store.create(name, "endpoint", {}, status)
        store.update(name, kind="endpoint", created_at=EPOCH + 10 * index)
        store.put_resource("model", name, {"ModelName": name})
        store.put_resource("endpoint-config", name, {"EndpointConfigName": name})
    for name in ("other-a", "other-b"):
        store.create(name, "training", {}, "Completed")


@pytest.fixture(scope="module")
def listed(tmp_path_factory) -> Any:
    home = tmp_path_factory.mktemp("listing_home")
    _seed(JobStore(home))
    with running_api(home) as server:
        yield server


@pytest.fixture(scope="module")
def client(listed) -> Any:
    return listed.client()


def _paged(client: Any, operation: str, key: str, field: str, **request: Any) -> list[list[str]]:
    pages = client.get_paginator(operation).paginate(**request)
    return [[row[field] for row in page[key]] for page in pages]


@pytest.mark.parametrize(("operation", "key", "field", "count"), OPERATIONS)
def test_paginators_return_every_record_exactly_once(client, operation, key, field, count):
    pages = _paged(
        client, operation, key, field, NameContains="pg-", PaginationConfig={"PageSize": 4}
    )
    names = [name for page in pages for name in page]
    assert len(names) == len(set(names)) == count
    assert [len(page) for page in pages] == [4] * (count // 4) + [count % 4] * bool(count % 4)
    assert len(pages) == math.ceil(count / 4)
    everything = _paged(client, operation, key, field, PaginationConfig={"PageSize": 7})
    assert sorted(n for page in everything for n in page) == sorted(
        n
        for page in _paged(client, operation, key, field, PaginationConfig={"PageSize": 100})
        for n in page
    )


def test_a_page_is_ten_rows_unless_max_results_says_and_orders_follow_sagemaker(client):
    first = client.list_transform_jobs(NameContains="pg-")
    names = [row["TransformJobName"] for row in first["TransformJobSummaries"]]
    assert names == [f"pg-{i:02d}" for i in range(22, 12, -1)]  # newest first, 10 of them
    assert first["NextToken"]
    # ListTrainingJobs is the one whose SortOrder defaults to Ascending.
    oldest = client.list_training_jobs(NameContains="pg-", MaxResults=3)
    assert [r["TrainingJobName"] for r in oldest["TrainingJobSummaries"]] == [
        "pg-00",
        "pg-01",
        "pg-02",
    ]
    last = client.list_training_jobs(NameContains="pg-", MaxResults=100)
    assert "NextToken" not in last and len(last["TrainingJobSummaries"]) == 23


def test_a_record_created_between_two_pages_moves_no_other_record(listed, client):
    request = {"MaxResults": 5, "SortOrder": "Ascending"}
    first = client.list_endpoint_configs(**request)
    JobStore(listed.home).put_resource("endpoint-config", "late-config", {})
    seen = [row["EndpointConfigName"] for row in first["EndpointConfigs"]]
    token = first["NextToken"]
    while token:
        page = client.list_endpoint_configs(**request, NextToken=token)
        seen += [row["EndpointConfigName"] for row in page["EndpointConfigs"]]
        token = page.get("NextToken")
    assert seen == [f"pg-{i:02d}" for i in range(23)] + ["late-config"]


def test_filters_by_status_name_and_times(client):
    def names(answer: dict[str, Any], key: str = "TrainingJobSummaries") -> list[str]:
        field = {"Endpoints": "EndpointName"}.get(key, "TrainingJobName")
        return [row[field] for row in answer[key]]

    failed = client.list_training_jobs(StatusEquals="Failed", MaxResults=100)
    assert names(failed) == [f"pg-{i:02d}" for i in range(1, 23, 3)]
    assert names(client.list_training_jobs(NameContains="other")) == ["other-a", "other-b"]
    after, before = time_of(EPOCH + 100), time_of(EPOCH + 140)
    window = client.list_training_jobs(CreationTimeAfter=after, CreationTimeBefore=before)
    assert names(window) == ["pg-11", "pg-12", "pg-13"]  # both bounds are strict for jobs
    # ListEndpoints' CreationTimeAfter keeps an endpoint created at that very time.
    endpoints = client.list_endpoints(CreationTimeAfter=after, CreationTimeBefore=before)
    assert names(endpoints, "Endpoints") == ["pg-13", "pg-12", "pg-10"]  # pg-11 is Deleted
    out = client.list_endpoints(StatusEquals="OutOfService", NameContains="pg-1")
    assert names(out, "Endpoints") == ["pg-19", "pg-15", "pg-13"]
    modified = dt.datetime.fromtimestamp(EPOCH + 400, dt.UTC)
    ended = client.list_training_jobs(LastModifiedTimeAfter=modified, NameContains="pg")
    assert names(ended) == [f"pg-{i:02d}" for i in range(10)]  # all ended at EPOCH + 500
    assert client.list_training_jobs(LastModifiedTimeBefore=modified)["TrainingJobSummaries"] == []
    assert client.list_training_jobs(WarmPoolStatusEquals="InUse")["TrainingJobSummaries"] == []


def test_sort_by_name_and_status_in_either_order(client):
    by_name = client.list_models(SortBy="Name", SortOrder="Descending", NameContains="pg-1")
    assert [row["ModelName"] for row in by_name["Models"]] == [
        f"pg-{i:02d}" for i in range(19, 9, -1)
    ]
    pages = _paged(
        client,
        "list_transform_jobs",
        "TransformJobSummaries",
        "TransformJobName",
        SortBy="Status",
        SortOrder="Ascending",
        NameContains="pg-",
        PaginationConfig={"PageSize": 3},
    )
    names = [name for page in pages for name in page]
    expected = sorted((STATUSES[i % 3], f"pg-{i:02d}") for i in range(23))
    assert names == [name for _, name in expected]


def test_a_next_token_not_given_for_that_order_is_a_validation_exception(client):
    token = client.list_models(MaxResults=1)["NextToken"]
    with pytest.raises(ClientError) as raised:
        client.list_models(MaxResults=1, NextToken=token, SortBy="Name")
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "Invalid pagination token" in raised.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as raised:
        client.list_models(NextToken="not-a-token")
    assert raised.value.response["Error"]["Code"] == "ValidationException"


def test_listing_orders_by_the_value_then_the_name():
    rows = [
        {"ModelName": name, "CreationTime": time_of(EPOCH + seconds)}
        for name, seconds in [("b", 1), ("a", 1), ("c", 0)]
    ]
    answer = listing.page(listing.MODELS, rows, {"SortOrder": "Ascending", "MaxResults": 2})
    assert [row["ModelName"] for row in answer["Models"]] == ["c", "a"]
    rest = listing.page(
        listing.MODELS, rows, {"SortOrder": "Ascending", "NextToken": answer["NextToken"]}
    )
    assert [row["ModelName"] for row in rest["Models"]] == ["b"] and "NextToken" not in rest
