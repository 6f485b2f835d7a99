"""Local endpoint configs: CreateEndpointConfig, DescribeEndpointConfig, DeleteEndpointConfig.

An endpoint config is a record, as on SageMaker: the model of each production variant and
how many instances run it, checked when it is created (the model must exist). Locally one
variant runs, on instance type ``local``; a DataCaptureConfig is checked (an ``s3://`` URI
or a folder) and honoured by the endpoint's server (``data_capture``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bigmart.local.data_capture import CaptureSetup, capture_setup, check_data_capture
from bigmart.local.lifecycle import RequestRefused
from bigmart.local.requests import LOCAL_INSTANCE, VARIANT, arn, time_of

if TYPE_CHECKING:
    from bigmart.local.jobs import JobStore


class LocalEndpointConfigs:
    """SageMaker's endpoint config calls (part of ``LocalEndpoints``)."""

    store: JobStore
    engine: str

    def _capture(self, name: str, config: Mapping[str, Any]) -> CaptureSetup:
        """How endpoint ``name``'s server captures under endpoint config ``config``."""
        variants = config.get("ProductionVariants") or [{}]
        return capture_setup(
            name,
            variants[0].get("VariantName", VARIANT),
            config.get("DataCaptureConfig"),
            self.store.home / "endpoints" / f"{name}.capture",
            self.engine,
        )

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
        check_data_capture(name, request.get("DataCaptureConfig"))
        self.describe_model(variant["ModelName"])  # refused if there is no such model
        self.store.put_resource("endpoint-config", name, request)
        return {"EndpointConfigArn": arn("endpoint-config", name)}

    def describe_endpoint_config(self, EndpointConfigName: str) -> dict[str, Any]:
        request, created = self.store.resource(
            "endpoint-config", EndpointConfigName, "endpoint configuration"
        )
        return {
            **request,
            "EndpointConfigArn": arn("endpoint-config", EndpointConfigName),
            "CreationTime": time_of(created),
        }

    def delete_endpoint_config(self, EndpointConfigName: str) -> dict[str, Any]:
        if not self.store.delete_resource("endpoint-config", EndpointConfigName):
            raise RequestRefused(f"Could not find endpoint configuration {EndpointConfigName!r}.")
        return {}
