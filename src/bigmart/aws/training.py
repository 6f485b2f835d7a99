"""Training on SageMaker: the CreateTrainingJob request, starting it, and following it.

The request is built and checked here, as a plain dict, so it can be read, logged and
tested without AWS; ``start_training_job`` only sends it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bigmart.aws.errors import JobFailed
from bigmart.aws.logs import Echo, LogTail, follow
from bigmart.aws.names import (
    CHANNEL_NAME,
    RequestError,
    check_environment,
    check_image_uri,
    check_instance,
    check_role_arn,
    check_s3_uri,
)
from bigmart.contract import TRAINING_LOG_GROUP, JobStatus, check_name
from bigmart.local import requests

MAX_HYPERPARAMETERS = 100
REQUIRED_CHANNEL = "training"
CHECKPOINT_DIR = "/opt/ml/checkpoints"

STOP_REASONS = {
    "MaxRuntimeExceeded": "it ran longer than max_run_seconds (MaxRuntimeInSeconds)",
    "MaxWaitTimeExceeded": "spot capacity plus training took longer than max_wait_seconds",
    "Interrupted": "its spot instance was reclaimed and it could not resume",
}


def training_job_request(
    name: str,
    image_uri: str,
    role_arn: str,
    channels: Mapping[str, str],
    output_s3_uri: str,
    hyperparameters: Mapping[str, str],
    instance_type: str,
    instance_count: int = 1,
    volume_size_gb: int = 30,
    max_run_seconds: int = 86400,
    spot: bool = False,
    max_wait_seconds: int | None = None,
    checkpoint_s3_uri: str | None = None,
    environment: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The CreateTrainingJob parameters for this image, checked before anything is sent.

    Every channel is an S3 prefix copied in full to every host as CSV (File mode); the
    metric regexes are the ones matching the lines ``train`` prints. Spot training needs a
    wait limit; it defaults to ``max_run_seconds`` (SageMaker requires wait >= run).
    """
    check_name(name, "training job name")
    check_image_uri(image_uri)
    check_role_arn(role_arn)
    check_s3_uri(output_s3_uri, "output location")
    check_instance(instance_type, instance_count)
    if REQUIRED_CHANNEL not in channels:
        given = ", ".join(sorted(channels)) or "none"
        raise RequestError(
            f"channel {REQUIRED_CHANNEL!r} is required (train reads its data from it); "
            f"channels given: {given}"
        )
    for channel, uri in channels.items():
        if not isinstance(channel, str) or not CHANNEL_NAME.fullmatch(channel):
            raise RequestError(
                f"channel name {channel!r} is invalid: use 1-64 letters, digits, '.', '-', '_'"
            )
        check_s3_uri(uri, f"channel {channel!r}")
    hyper = _checked_hyperparameters(hyperparameters)
    env = check_environment(environment)
    for label, number in (("volume_size_gb", volume_size_gb), ("max_run_seconds", max_run_seconds)):
        if not isinstance(number, int) or number < 1:
            raise RequestError(f"{label}={number!r} must be a whole number >= 1")

    stopping: dict[str, int] = {"MaxRuntimeInSeconds": max_run_seconds}
    if spot:
        wait = max_run_seconds if max_wait_seconds is None else max_wait_seconds
        if not isinstance(wait, int) or wait < max_run_seconds:
            raise RequestError(
                f"max_wait_seconds={wait!r} must be at least max_run_seconds={max_run_seconds}: "
                "it bounds waiting for spot capacity plus the training itself"
            )
        stopping["MaxWaitTimeInSeconds"] = wait
    elif max_wait_seconds is not None:
        raise RequestError("max_wait_seconds applies to spot training only: also set spot=True")

    request = requests.training_job_request(
        name,
        image_uri,
        channels,
        output_s3_uri,
        hyper,
        instance_type=instance_type,
        instance_count=instance_count,
        volume_size_gb=volume_size_gb,
    )
    request["RoleArn"] = role_arn
    request["StoppingCondition"] = stopping
    request["EnableManagedSpotTraining"] = bool(spot)
    if checkpoint_s3_uri is not None:
        check_s3_uri(checkpoint_s3_uri, "checkpoint location")
        request["CheckpointConfig"] = {"S3Uri": checkpoint_s3_uri, "LocalPath": CHECKPOINT_DIR}
    if env:
        request["Environment"] = env
    return request


def _checked_hyperparameters(hyperparameters: Mapping[str, str]) -> dict[str, str]:
    """SageMaker carries hyper-parameters as strings; a number here is a caller's slip that
    boto3 would reject with a less helpful message, so say which one and how to write it."""
    if len(hyperparameters) > MAX_HYPERPARAMETERS:
        raise RequestError(
            f"{len(hyperparameters)} hyper-parameters given; SageMaker allows at most 100"
        )
    for key, value in hyperparameters.items():
        if not isinstance(key, str) or not 0 < len(key) <= 256:
            raise RequestError(f"hyper-parameter name {key!r} must be a string of 1-256 chars")
        if not isinstance(value, str):
            raise RequestError(
                f"hyper-parameter {key}={value!r} must be a string (SageMaker sends every "
                f"value as text): write {key}={_as_text(value)!r}"
            )
        if len(value) > 2500:
            raise RequestError(f"hyper-parameter {key} is {len(value)} chars; the limit is 2500")
    return dict(hyperparameters)


def _as_text(value: object) -> str:
    return "None" if value is None else str(value)


def start_training_job(sm: Any, request: Mapping[str, Any]) -> str:
    """Send CreateTrainingJob; returns the job's ARN."""
    return sm.create_training_job(**request)["TrainingJobArn"]


def wait_for_training_job(
    sm: Any,
    logs: Any | None,
    name: str,
    echo: Echo = print,
    poll_seconds: float = 30.0,
    timeout_seconds: float | None = None,
) -> dict[str, Any]:
    """Follow a training job to its end: status changes and its log lines as they arrive.

    Returns the final DescribeTrainingJob when Completed, after echoing its metrics and
    model location; raises ``JobFailed`` carrying FailureReason when Failed or Stopped.
    ``logs`` None follows the status only; ``timeout_seconds`` raises ``WaitTimeout`` (the
    job itself goes on).
    """
    job = follow(
        lambda: sm.describe_training_job(TrainingJobName=name),
        label=f"training job {name}",
        state=lambda j: " - ".join(part for part in _state(j) if part),
        done=lambda j: j["TrainingJobStatus"] in JobStatus.TERMINAL,
        echo=echo,
        tail=LogTail(logs, TRAINING_LOG_GROUP, f"{name}/", echo) if logs is not None else None,
        poll_seconds=poll_seconds,
        timeout_seconds=timeout_seconds,
    )
    status = job["TrainingJobStatus"]
    if status != JobStatus.COMPLETED:
        raise JobFailed("training job", name, status, failure_reason(job), job)
    for metric in job.get("FinalMetricDataList", []):
        echo(f"{metric['MetricName']}={metric['Value']:.4f}")
    artifact = job.get("ModelArtifacts", {}).get("S3ModelArtifacts")
    if artifact:
        echo(f"model: {artifact}")
    if "BillableTimeInSeconds" in job:
        echo(f"billable seconds: {job['BillableTimeInSeconds']}")
    return job


def _state(job: Mapping[str, Any]) -> tuple[str, ...]:
    """Status, secondary status and its latest message: what a person watches change."""
    transitions = job.get("SecondaryStatusTransitions") or [{}]
    return (
        job["TrainingJobStatus"],
        job.get("SecondaryStatus", ""),
        transitions[-1].get("StatusMessage", ""),
    )


def failure_reason(job: Mapping[str, Any]) -> str:
    """FailureReason, or why a stopped job stopped (spot, time limits, StopTrainingJob)."""
    if job.get("FailureReason"):
        return str(job["FailureReason"])
    secondary = job.get("SecondaryStatus", "")
    return STOP_REASONS.get(secondary, "stopped before completing (StopTrainingJob)")
