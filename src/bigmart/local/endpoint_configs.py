"""Local endpoint configs: CreateEndpointConfig, DescribeEndpointConfig, DeleteEndpointConfig.

An endpoint config is a record, as on SageMaker: the model of each production variant and
how many instances run it, checked when it is created (the model must exist). Locally one
variant runs, on instance type ``local``; a DataCaptureConfig is kept (nothing is captured).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bigmart.local.lifecycle import RequestRefused
from bigmart.local.requests import LOCAL_INSTANCE, arn

if TYPE_CHECKING:
    from bigmart.local.jobs import JobStore

VARIANT = "AllTraffic"


def endpoint_config_request(
    name: str,
    model_name: str,
    *,
    instance_type: str = LOCAL_INSTANCE,
    instance_count: int = 1,
    capture_s3_uri: str | None = None,
) -> dict[str, Any]:
    """A CreateEndpointConfig request: one variant of ``model_name``; with
    ``capture_s3_uri``, requests and responses are to be captured there."""
    request: dict[str, Any] = {
        "EndpointConfigName": name,
        "ProductionVariants": [
            {
                "VariantName": VARIANT,
                "ModelName": model_name,
                "InstanceType": instance_type,
                "InitialInstanceCount": instance_count,
                "InitialVariantWeight": 1.0,
            }
        ],
    }
    if capture_s3_uri is not None:
        request["DataCaptureConfig"] = {
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": capture_s3_uri,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        }
    return request


class LocalEndpointConfigs:
    """SageMaker's endpoint config calls (part of ``LocalEndpoints``)."""

    store: JobStore

    def describe_model(self, ModelName: str) -> dict[str, Any]:
        raise NotImplementedError  # provided by LocalSageMaker

    def create_endpoint_config(self, request: Mapping[str, Any]) -> dict[str, str]:
        """Record an endpoint config: one ``local`` variant of an existing model."""
        name = request["EndpointConfigName"]
        variants = request.get("ProductionVariants") or []
        if len(variants) != 1:
            raise RequestRefused(
                f"endpoint config {name!r}: exactly one production variant runs locally, "
                f"got {len(variants)}"
            )
        (variant,) = variants
        if variant.get("InstanceType", LOCAL_INSTANCE) != LOCAL_INSTANCE:
            raise RequestRefused(
                f"endpoint config {name!r}: InstanceType {variant['InstanceType']!r} does not "
                f"run on this machine; use {LOCAL_INSTANCE!r}"
            )
        count = variant.get("InitialInstanceCount", 1)
        if not isinstance(count, int) or count < 1:
            raise RequestRefused(
                f"endpoint config {name!r}: InitialInstanceCount must be at least 1, got {count!r}"
            )
        self.describe_model(variant["ModelName"])  # refused if there is no such model
        try:
            self.store.put_resource("endpoint-config", name, request)
        except ValueError as error:
            raise RequestRefused(str(error)) from None
        return {"EndpointConfigArn": arn("endpoint-config", name)}

    def describe_endpoint_config(self, EndpointConfigName: str) -> dict[str, Any]:
        found = self.store.get_resource("endpoint-config", EndpointConfigName)
        if found is None:
            raise RequestRefused(f"Could not find endpoint configuration {EndpointConfigName!r}.")
        request, created = found
        return {
            **request,
            "EndpointConfigArn": arn("endpoint-config", EndpointConfigName),
            "CreationTime": time_of(created),
        }

    def delete_endpoint_config(self, EndpointConfigName: str) -> dict[str, Any]:
        if not self.store.delete_resource("endpoint-config", EndpointConfigName):
            raise RequestRefused(f"Could not find endpoint configuration {EndpointConfigName!r}.")
        return {}


def time_of(seconds: float | None) -> dt.datetime | None:
    """A record's time as SageMaker answers it (a datetime in UTC), None if not set."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC) if seconds else None
