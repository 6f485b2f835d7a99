"""``bigmart api --max-instances``: a Create call whose instances would take the machine over
it answers ResourceLimitExceeded in SageMaker's words and leaves no record; the instances in
use are the running jobs' InstanceCount and the live endpoints' InitialInstanceCount."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from bigmart.api.capacity import DEFAULT_MAX_INSTANCES, Capacity, instances
from bigmart.local.jobs import JobStore

from .conftest import FAST_WAIT, ROLE, running_api, training_request

LIMIT = "Number of instances across all training jobs, transform jobs and endpoints"
SLOW = {"n_estimators": "5000", "n_jobs": "1"}  # minutes: it is stopped first


def _refusal(call: Any, **request: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call(**request)
    error = raised.value.response["Error"]
    assert error["Code"] == "ResourceLimitExceeded", error
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return error["Message"]


def _message(limit: int, used: int, delta: int) -> str:
    return (
        f"The account-level service limit '{LIMIT}' is {limit} Instances, with current "
        f"utilization of {used} Instances and a request delta of {delta} Instances."
    )


def test_creates_over_the_machines_instances_are_resource_limit_exceeded(tmp_path, synthetic_csv):
    home = tmp_path / "home"
    store = JobStore(home)
    # A job run elsewhere (SageMaker) takes none of this machine's instances.
    store.create(
        "remote",
        "training",
        {"on": "sagemaker", "ResourceConfig": {"InstanceCount": 9}},
        "InProgress",
    )
    with running_api(home, None, "--max-instances", "2") as server:
        sagemaker = server.client()
        container = {"Image": "bigmart:latest", "ModelDataUrl": "/nowhere/model.tar.gz"}
        sagemaker.create_model(ModelName="m", PrimaryContainer=container, ExecutionRoleArn=ROLE)
        variant = {"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.m5.large"}
        sagemaker.create_endpoint_config(
            EndpointConfigName="three", ProductionVariants=[{**variant, "InitialInstanceCount": 3}]
        )
        message = _refusal(sagemaker.create_endpoint, EndpointName="e", EndpointConfigName="three")
        assert message.startswith(_message(2, 0, 3))
        assert "--max-instances" in message

        # A training job of two instances fits, and holds them while it runs.
        big = {"InstanceType": "ml.m5.large", "InstanceCount": 2, "VolumeSizeInGB": 5}
        first = training_request("cap-a", str(synthetic_csv), str(tmp_path), HyperParameters=SLOW)
        sagemaker.create_training_job(**{**first, "ResourceConfig": big})
        assert sagemaker.describe_training_job(TrainingJobName="cap-a")["TrainingJobStatus"] == (
            "InProgress"
        )
        second = training_request("cap-b", str(synthetic_csv), str(tmp_path))
        assert _refusal(sagemaker.create_training_job, **second).startswith(_message(2, 2, 1))
        transform = {
            "TransformJobName": "cap-t",
            "ModelName": "m",
            "TransformInput": {
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "/x"}}
            },
            "TransformOutput": {"S3OutputPath": str(tmp_path / "out")},
            "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        }
        assert _refusal(sagemaker.create_transform_job, **transform).startswith(_message(2, 2, 1))
        # No record was left by a refusal; the name is free once there is room.
        assert [(r.name, r.kind) for r in server.store.list()] == [
            ("remote", "training"),
            ("cap-a", "training"),
        ]
        sagemaker.stop_training_job(TrainingJobName="cap-a")
        sagemaker.get_waiter("training_job_completed_or_stopped").wait(
            TrainingJobName="cap-a", WaiterConfig=FAST_WAIT
        )
        sagemaker.create_training_job(**second)
        sagemaker.get_waiter("training_job_completed_or_stopped").wait(
            TrainingJobName="cap-b", WaiterConfig=FAST_WAIT
        )
        done = sagemaker.describe_training_job(TrainingJobName="cap-b")
        assert done["TrainingJobStatus"] == "Completed", done.get("FailureReason")


def test_instances_are_counted_from_requests_and_records(tmp_path):
    assert instances("training", {"ResourceConfig": {"InstanceCount": 3}}) == 3
    groups = [{"InstanceCount": 2}, {"InstanceCount": 1}]
    assert instances("training", {"ResourceConfig": {"InstanceGroups": groups}}) == 3
    assert instances("transform", {"TransformResources": {"InstanceCount": 4}}) == 4
    variants = [{"InitialInstanceCount": 2}, {"ServerlessConfig": {}}]
    assert instances("endpoint", {"EndpointConfig": {"ProductionVariants": variants}}) == 3
    store = JobStore(tmp_path)
    endpoint = {"EndpointConfig": {"ProductionVariants": [{"InitialInstanceCount": 2}]}}
    for name, kind, status in [
        ("live", "endpoint", "InService"),
        ("gone", "endpoint", "Deleted"),
        ("done", "training", "Completed"),
        ("running", "transform", "InProgress"),
    ]:
        store.create(name, kind, {**endpoint, "TransformResources": {"InstanceCount": 1}}, status)
    assert Capacity(store, 10).in_use() == 3
    assert DEFAULT_MAX_INSTANCES >= 2
