"""List answers as SageMaker gives them: filtered, sorted, and cut into pages.

ListTrainingJobs, ListTransformJobs, ListEndpoints, ListEndpointConfigs and ListModels take
NameContains, CreationTimeAfter/Before (and, where the operation has them, StatusEquals and
LastModifiedTimeAfter/Before), SortBy, SortOrder, MaxResults (default 10) and NextToken. A
NextToken names the last row of its page (its sort value and name), not a position: the
next page starts after that row in the same order, so a record created or deleted between
two calls neither repeats a row nor pushes one out of the pages (boto3's paginators return
every record once).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.utils import parse_timestamp

from bigmart.api.errors import validation

#: SageMaker's page size when MaxResults is not given.
DEFAULT_MAX_RESULTS = 10
Row = dict[str, Any]


@dataclass(frozen=True)
class Listing:
    """One List operation's rows: ``key`` is the answer's list, ``prefix`` names its fields
    (``TrainingJob``: TrainingJobName, TrainingJobStatus); ``order`` is its default
    SortOrder, as SageMaker documents it; ``inclusive_after``: CreationTimeAfter keeps a row
    created at that very time (endpoints, endpoint configs, models)."""

    key: str
    prefix: str
    order: str = "Descending"
    inclusive_after: bool = False
    #: Filters on what no local record has (a warm pool, a training plan): none matches.
    never: tuple[str, ...] = ()


TRAINING_JOBS = Listing(
    "TrainingJobSummaries",
    "TrainingJob",
    order="Ascending",
    never=("WarmPoolStatusEquals", "TrainingPlanArnEquals"),
)
TRANSFORM_JOBS = Listing("TransformJobSummaries", "TransformJob")
ENDPOINTS = Listing("Endpoints", "Endpoint", inclusive_after=True)
ENDPOINT_CONFIGS = Listing("EndpointConfigs", "EndpointConfig", inclusive_after=True)
MODELS = Listing("Models", "Model", inclusive_after=True)


def page(listing: Listing, rows: Iterable[Row], request: Mapping[str, Any]) -> dict[str, Any]:
    """The page of ``rows`` that ``request`` asks for, with a NextToken if more follow."""
    name = f"{listing.prefix}Name"
    sort_by = request.get("SortBy", "CreationTime")
    value = _sort_value(sort_by, listing)

    def key(row: Row) -> tuple[Any, str]:
        return value(row), row[name]

    descending = request.get("SortOrder", listing.order) == "Descending"
    kept = sorted((r for r in rows if _kept(listing, r, request)), key=key, reverse=descending)
    if request.get("NextToken"):
        after = _after(request["NextToken"], sort_by)
        kept = [r for r in kept if (key(r) < after if descending else key(r) > after)]
    size = request.get("MaxResults") or DEFAULT_MAX_RESULTS
    answer: dict[str, Any] = {listing.key: kept[:size]}
    if len(kept) > size:
        answer["NextToken"] = _token(sort_by, key(kept[size - 1]))
    return answer


def _kept(listing: Listing, row: Row, request: Mapping[str, Any]) -> bool:
    """True if ``row`` passes every filter the request sets."""
    if any(request.get(field) for field in listing.never):
        return False
    contains = request.get("NameContains")
    if contains and contains not in row[f"{listing.prefix}Name"]:
        return False
    status = request.get("StatusEquals")
    if status and row.get(f"{listing.prefix}Status") != status:
        return False
    created = row["CreationTime"]
    after = _time(request, "CreationTimeAfter")
    if after and (created < after if listing.inclusive_after else created <= after):
        return False
    before = _time(request, "CreationTimeBefore")
    if before and created >= before:
        return False
    modified = row.get("LastModifiedTime", created)
    after, before = (
        _time(request, "LastModifiedTimeAfter"),
        _time(request, "LastModifiedTimeBefore"),
    )
    return not (after and modified <= after) and not (before and modified >= before)


def _time(request: Mapping[str, Any], field: str) -> dt.datetime | None:
    """A timestamp filter as a UTC datetime (boto3 sends epoch seconds; ISO text is read
    too), None if not set."""
    value = request.get(field)
    if value is None:
        return None
    try:
        if isinstance(value, int | float):
            return dt.datetime.fromtimestamp(value, dt.UTC)
        return parse_timestamp(value).astimezone(dt.UTC)
    except (ValueError, TypeError, OverflowError):
        raise validation(f"{field}: {value!r} is not a timestamp") from None


def _sort_value(sort_by: str, listing: Listing) -> Callable[[Row], Any]:
    """The value rows are sorted by: SortBy is Name, CreationTime or (jobs, endpoints)
    Status; the name breaks ties, so the order is total."""
    if sort_by == "Name":
        return lambda row: ""
    if sort_by == "Status":
        return lambda row: row.get(f"{listing.prefix}Status", "")
    return lambda row: row["CreationTime"].timestamp()


def _token(sort_by: str, last: tuple[Any, str]) -> str:
    text = json.dumps({"SortBy": sort_by, "After": list(last)})
    return base64.urlsafe_b64encode(text.encode()).decode()


def _after(token: str, sort_by: str) -> tuple[Any, str]:
    """The sort key a NextToken continues after; refused if this server did not give it
    for this SortBy."""
    try:
        given = json.loads(base64.urlsafe_b64decode(token.encode()))
        value, name = given["After"]
        numeric = sort_by == "CreationTime"
        if (
            given["SortBy"] == sort_by
            and isinstance(name, str)
            and isinstance(value, int | float if numeric else str)
        ):
            return value, name
    except (ValueError, TypeError, KeyError, binascii.Error):
        pass
    raise validation(
        f"Invalid pagination token: {token[:40]!r} is not a NextToken this server gave "
        f"for SortBy {sort_by}"
    )
