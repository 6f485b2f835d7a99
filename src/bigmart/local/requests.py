"""SageMaker's request shapes, built from the product's options and read back.

The CLI speaks to both backends in SageMaker's own words: a CreateTrainingJob or
CreateTransformJob request, with SageMaker's field names. These functions build those
requests from what the user typed, and read them back into what the local backend runs;
the AWS backend adds what only AWS needs (a role, an ECR image, stopping conditions).
A location is an ``s3://`` URI or, locally, a path: SageMaker's ``S3Uri`` fields carry both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from bigmart.local.transform.options import TransformOptions
from bigmart.model.metrics import METRIC_DEFINITIONS

LOCAL_INSTANCE = "local"
#: The account and region local ARNs name when no client said (the CLI): no AWS account
#: is involved.
LOCAL_ACCOUNT = "000000000000"
LOCAL_REGION = "local"
VARIANT = "AllTraffic"


@dataclass(frozen=True)
class ArnPlace:
    """Where a local resource's ARN says it lives: partition, region, account."""

    region: str = LOCAL_REGION
    account: str = LOCAL_ACCOUNT
    partition: str = "aws"


#: Where the CLI's local resources live (no client names a region).
LOCAL_PLACE = ArnPlace()
#: The place of the call being answered: ``bigmart api`` sets the region its client signed
#: for and its ``--account-id`` for each request (ARNs are built all through the backend).
ARN_PLACE: ContextVar[ArnPlace] = ContextVar("ARN_PLACE", default=LOCAL_PLACE)


def arn(kind: str, name: str) -> str:
    """A local resource's ARN, shaped as SageMaker's (``kind``: training-job, endpoint...),
    in the place of the call being answered."""
    place = ARN_PLACE.get()
    return f"arn:{place.partition}:sagemaker:{place.region}:{place.account}:{kind}/{name.lower()}"


def training_job_request(
    name: str,
    image: str,
    channels: Mapping[str, str],
    output: str,
    hyperparameters: Mapping[str, str],
    *,
    instance_type: str = LOCAL_INSTANCE,
    instance_count: int = 1,
    volume_size_gb: int = 30,
    max_run_seconds: int = 86_400,
) -> dict[str, Any]:
    """A CreateTrainingJob request: each channel is a folder, file or S3 prefix of CSV; the
    metric regexes are the ones matching the lines ``train`` prints."""
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {
            "TrainingImage": image,
            "TrainingInputMode": "File",
            "MetricDefinitions": [dict(definition) for definition in METRIC_DEFINITIONS],
        },
        "HyperParameters": dict(hyperparameters),
        "InputDataConfig": [
            {
                "ChannelName": channel,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": location,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "ContentType": "text/csv",
            }
            for channel, location in channels.items()
        ],
        "OutputDataConfig": {"S3OutputPath": output},
        "ResourceConfig": {
            "InstanceType": instance_type,
            "InstanceCount": instance_count,
            "VolumeSizeInGB": volume_size_gb,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": max_run_seconds},
    }


def training_channels(request: Mapping[str, Any]) -> dict[str, str]:
    """Channel name to location, from a CreateTrainingJob request."""
    channels: dict[str, str] = {}
    for channel in request.get("InputDataConfig") or []:
        source = channel["DataSource"]["S3DataSource"]
        channels[channel["ChannelName"]] = source["S3Uri"]
    return channels


def model_request(name: str, image: str, model_data: str) -> dict[str, Any]:
    """A CreateModel request: the image to serve with and the model archive or folder."""
    return {
        "ModelName": name,
        "PrimaryContainer": {"Image": image, "ModelDataUrl": model_data},
    }


def production_variant(
    model_name: str, instance_type: str = LOCAL_INSTANCE, count: int = 1
) -> dict[str, Any]:
    """An endpoint config's one variant: ``count`` instances serving ``model_name``."""
    return {
        "VariantName": VARIANT,
        "ModelName": model_name,
        "InstanceType": instance_type,
        "InitialInstanceCount": count,
        "InitialVariantWeight": 1.0,
    }


def data_capture(destination: str, percentage: int = 100) -> dict[str, Any]:
    """A DataCaptureConfig: ``percentage`` of the requests and responses captured under
    ``destination``, CSV and JSON kept as text (not base64)."""
    return {
        "EnableCapture": True,
        "InitialSamplingPercentage": percentage,
        "DestinationS3Uri": destination,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {
            "CsvContentTypes": ["text/csv"],
            "JsonContentTypes": ["application/json", "application/jsonlines"],
        },
    }


def endpoint_config_request(
    name: str, variant: dict[str, Any], capture: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A CreateEndpointConfig request: one production variant, maybe data capture."""
    request: dict[str, Any] = {"EndpointConfigName": name, "ProductionVariants": [variant]}
    if capture is not None:
        request["DataCaptureConfig"] = capture
    return request


def transform_job_request(
    name: str,
    model_name: str,
    input_location: str,
    output_location: str,
    options: TransformOptions,
    *,
    instance_type: str = LOCAL_INSTANCE,
    instance_count: int = 1,
) -> dict[str, Any]:
    """The CreateTransformJob request: every option mapped to its SageMaker field.

    ``max_concurrent_transforms`` 0 and ``batch_strategy`` / ``max_payload_mb`` None mean
    "not set" and are omitted (``max_payload_mb`` 0 is sent: it means unbounded). The
    DataProcessing filters and join are sent only when they differ from SageMaker's
    defaults (``$``, ``$``, ``None``).
    """
    transform_output: dict[str, Any] = {
        "S3OutputPath": output_location,
        "AssembleWith": options.assemble_with,
    }
    if options.accept is not None:
        transform_output["Accept"] = options.accept
    request: dict[str, Any] = {
        "TransformJobName": name,
        "ModelName": model_name,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_location}},
            "ContentType": options.content_type,
            "SplitType": options.split_type,
            "CompressionType": options.compression_type,
        },
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
            ("InputFilter", options.input_filter, "$"),
            ("OutputFilter", options.output_filter, "$"),
            ("JoinSource", options.join_source, "None"),
        )
        if value != default
    }
    if processing:
        request["DataProcessing"] = processing
    return request


def transform_options(request: Mapping[str, Any]) -> TransformOptions:
    """The options of a CreateTransformJob request (checked by ``TransformOptions``)."""
    transform_input = request.get("TransformInput") or {}
    transform_output = request.get("TransformOutput") or {}
    processing = request.get("DataProcessing") or {}
    return TransformOptions(
        content_type=transform_input.get("ContentType", "text/csv"),
        accept=transform_output.get("Accept"),
        split_type=transform_input.get("SplitType", "None"),
        batch_strategy=request.get("BatchStrategy"),
        max_payload_mb=request.get("MaxPayloadInMB"),
        max_concurrent_transforms=request.get("MaxConcurrentTransforms", 0),
        assemble_with=transform_output.get("AssembleWith", "None"),
        join_source=processing.get("JoinSource", "None"),
        input_filter=processing.get("InputFilter", "$"),
        output_filter=processing.get("OutputFilter", "$"),
        compression_type=transform_input.get("CompressionType", "None"),
    )


def transform_locations(request: Mapping[str, Any]) -> tuple[str, str]:
    """Where a transform job reads and writes."""
    source = request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
    return source, request["TransformOutput"]["S3OutputPath"]


def time_of(seconds: float | None) -> dt.datetime | None:
    """A record's time as SageMaker answers it (a datetime in UTC), None if not set."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC) if seconds else None
