"""Batch transform on SageMaker: TransformOptions as a CreateTransformJob request.

The same ``TransformOptions`` drive the local transform, so an option means one thing
wherever the job runs. Options left unset are left out of the request, so the server's
``/execution-parameters`` and then SageMaker's defaults decide, as they would locally.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bigmart.aws.errors import JobFailed
from bigmart.aws.logs import Echo, LogTail, follow
from bigmart.aws.names import (
    check_environment,
    check_instance,
    check_s3_uri,
)
from bigmart.contract import TRANSFORM_LOG_GROUP, JobStatus, check_name
from bigmart.local import requests
from bigmart.local.transform.options import TransformOptions


def transform_job_request(
    name: str,
    model_name: str,
    input_s3_uri: str,
    output_s3_uri: str,
    options: TransformOptions,
    instance_type: str,
    instance_count: int = 1,
    environment: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The CreateTransformJob parameters (``bigmart.local.requests`` maps each option to
    its SageMaker field), checked before anything is sent."""
    check_name(name, "transform job name")
    check_name(model_name, "model name")
    check_s3_uri(input_s3_uri, "transform input")
    check_s3_uri(output_s3_uri, "transform output")
    check_instance(instance_type, instance_count)
    env = check_environment(environment)

    request = requests.transform_job_request(
        name,
        model_name,
        input_s3_uri,
        output_s3_uri,
        options,
        instance_type=instance_type,
        instance_count=instance_count,
    )
    if env:
        request["Environment"] = env
    return request


def start_transform_job(sm: Any, request: Mapping[str, Any]) -> str:
    """Send CreateTransformJob; returns the job's ARN."""
    return sm.create_transform_job(**request)["TransformJobArn"]


def wait_for_transform_job(
    sm: Any,
    name: str,
    echo: Echo = print,
    poll_seconds: float = 30.0,
    timeout_seconds: float | None = None,
    logs: Any | None = None,
) -> dict[str, Any]:
    """Follow a transform job to its end (and its log, given a CloudWatch Logs client).

    Returns the final DescribeTransformJob when Completed; raises ``JobFailed`` carrying
    FailureReason when Failed or Stopped.
    """
    job = follow(
        lambda: sm.describe_transform_job(TransformJobName=name),
        label=f"transform job {name}",
        state=lambda j: j["TransformJobStatus"],
        done=lambda j: j["TransformJobStatus"] in JobStatus.TERMINAL,
        echo=echo,
        tail=LogTail(logs, TRANSFORM_LOG_GROUP, f"{name}/", echo) if logs is not None else None,
        poll_seconds=poll_seconds,
        timeout_seconds=timeout_seconds,
    )
    status = job["TransformJobStatus"]
    if status != JobStatus.COMPLETED:
        raise JobFailed("transform job", name, status, failure_reason(job), job)
    echo(f"output: {job['TransformOutput']['S3OutputPath']}")
    return job


def failure_reason(job: Mapping[str, Any]) -> str:
    """FailureReason, or that the job was stopped (StopTransformJob)."""
    return str(job.get("FailureReason") or "stopped before completing (StopTransformJob)")
