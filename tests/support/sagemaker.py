"""Requests and answers shaped as SageMaker's, shared by the tests of ``bigmart.aws``."""

from __future__ import annotations

import contextlib
import copy
import time
from datetime import UTC, datetime
from typing import Any

import boto3

from bigmart import aws
from support.aws_server import ACCOUNT, REGION, ROLE_ARN

IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/bigmart:latest"
BUCKET = "s3://my-bucket/bigmart"
HYPER = {"n_estimators": "300", "max_depth": "8"}
NOW = datetime(2024, 6, 1, tzinfo=UTC)


class Requests:
    """Records the parameters of every call a client makes, as the caller passed them."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def attach(self, client: Any) -> Requests:
        client.meta.events.register("provide-client-params", self._record)
        return self

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.sent.append((model.name, copy.deepcopy(params)))

    def of(self, operation: str) -> list[dict[str, Any]]:
        return [params for name, params in self.sent if name == operation]


def training_request(**overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "name": "bigmart-2024-06-01",
        "image_uri": IMAGE,
        "role_arn": ROLE_ARN,
        "channels": {"training": f"{BUCKET}/training/", "validation": f"{BUCKET}/validation/"},
        "output_s3_uri": f"{BUCKET}/models/",
        "hyperparameters": HYPER,
        "instance_type": "ml.m5.large",
    }
    arguments.update(overrides)
    return aws.training_job_request(**arguments)


def described_training_job(status: str, secondary: str, **extra: Any) -> dict[str, Any]:
    """A DescribeTrainingJob answer valid for Stubber (the required members, then extra)."""
    return {
        "TrainingJobName": "job",
        "TrainingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/job",
        "ModelArtifacts": {"S3ModelArtifacts": f"{BUCKET}/models/job/output/model.tar.gz"},
        "TrainingJobStatus": status,
        "SecondaryStatus": secondary,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "CreationTime": NOW,
        **extra,
    }


def put_log_events(boto: boto3.Session, group: str, stream: str, messages: list[str]) -> None:
    logs = boto.client("logs")
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    start = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": start + i, "message": m} for i, m in enumerate(messages)],
    )
