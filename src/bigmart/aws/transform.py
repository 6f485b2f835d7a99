"""Batch transform on SageMaker: TransformOptions as a CreateTransformJob request.

The same ``TransformOptions`` drive the local transform, so an option means one thing
wherever the job runs. Options left unset are left out of the request, so the server's
``/execution-parameters`` and then SageMaker's defaults decide, as they would locally.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bigmart.aws.errors import JobFailed
from bigmart.aws.logs import TRANSFORM_LOG_GROUP, Echo, LogTail, follow
from bigmart.aws.names import (
    check_environment,
    check_instance,
    check_s3_uri,
)
from bigmart.contract import DEFAULT_FILTER, JobStatus, JoinSource, check_name
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
    """The CreateTransformJob parameters: every option mapped to its SageMaker field.

    ``max_concurrent_transforms`` 0 and ``batch_strategy`` / ``max_payload_mb`` None mean
    "not set" and are omitted (``max_payload_mb`` 0 is sent: it means unbounded). The
    DataProcessing filters and join are sent only when they differ from SageMaker's
    defaults (``$``, ``$``, ``None``).
    """
    check_name(name, "transform job name")
    check_name(model_name, "model name")
    check_s3_uri(input_s3_uri, "transform input")
    check_s3_uri(output_s3_uri, "transform output")
    check_instance(instance_type, instance_count)
    env = check_environment(environment)

    transform_input: dict[str, Any] = {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_s3_uri}},
        "ContentType": options.content_type,
        "SplitType": options.split_type,
        "CompressionType": options.compression_type,
    }
    transform_output: dict[str, Any] = {
        "S3OutputPath": output_s3_uri,
        "AssembleWith": options.assemble_with,
    }
    if options.accept is not None:
        transform_output["Accept"] = options.accept

    request: dict[str, Any] = {
        "TransformJobName": name,
        "ModelName": model_name,
        "TransformInput": transform_input,
        "TransformOutput": transform_output,
        "TransformResources": {"InstanceType": instance_type, "InstanceCount": instance_count},
    }
    if options.batch_strategy is not None:
        request["BatchStrategy"] = options.batch_strategy
    if options.max_payload_mb is not None:
        request["MaxPayloadInMB"] = options.max_payload_mb
    if options.max_concurrent_transforms:
        request["MaxConcurrentTransforms"] = options.max_concurrent_transforms
    processing = {
        key: value
        for key, value, default in (
            ("InputFilter", options.input_filter, DEFAULT_FILTER),
            ("OutputFilter", options.output_filter, DEFAULT_FILTER),
            ("JoinSource", options.join_source, JoinSource.NONE),
        )
        if value != default
    }
    if processing:
        request["DataProcessing"] = processing
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
