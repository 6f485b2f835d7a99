"""Real-time endpoints: model, endpoint config and endpoint; invoking; deleting.

``deploy`` names the model and the endpoint config after the endpoint, as the SageMaker
Python SDK does, so ``delete_endpoint`` can find and remove all three by one name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from bigmart.aws.errors import EndpointFailed
from bigmart.aws.logs import Echo, LogTail, follow
from bigmart.aws.names import (
    RequestError,
    check_environment,
    check_image_uri,
    check_instance,
    check_role_arn,
    check_s3_uri,
)
from bigmart.contract import (
    ENDPOINT_LOG_GROUP,
    MIB,
    REALTIME_MAX_PAYLOAD_MB,
    EndpointStatus,
    check_name,
)
from bigmart.local import requests
from bigmart.local.requests import VARIANT

MAX_INVOKE_BYTES = REALTIME_MAX_PAYLOAD_MB * MIB  # InvokeEndpoint's request limit (6 MiB)
#: What waiting for InService gives up on.
FAILED = (
    EndpointStatus.FAILED,
    EndpointStatus.OUT_OF_SERVICE,
    EndpointStatus.UPDATE_ROLLBACK_FAILED,
    EndpointStatus.DELETING,
)


def create_model(
    sm: Any,
    name: str,
    image_uri: str,
    model_data_url: str,
    role_arn: str,
    environment: Mapping[str, str] | None = None,
) -> str:
    """A SageMaker Model: this image serving ``model_data_url`` (a training job's
    ``model.tar.gz``). Returns its ARN."""
    check_name(name, "model name")
    check_image_uri(image_uri)
    check_s3_uri(model_data_url, "model data")
    check_role_arn(role_arn)
    container: dict[str, Any] = {"Image": image_uri, "ModelDataUrl": model_data_url}
    env = check_environment(environment)
    if env:
        container["Environment"] = env
    answer = sm.create_model(ModelName=name, PrimaryContainer=container, ExecutionRoleArn=role_arn)
    return answer["ModelArn"]


def create_endpoint_config(
    sm: Any,
    name: str,
    model_name: str,
    instance_type: str,
    instance_count: int = 1,
    capture_s3_uri: str | None = None,
    capture_percentage: int = 100,
) -> str:
    """One production variant of ``model_name``; with ``capture_s3_uri``, requests and
    responses are captured there (CSV and JSON kept as text, not base64). Returns its ARN."""
    check_name(name, "endpoint config name")
    check_instance(instance_type, instance_count)
    if capture_s3_uri is not None:
        check_s3_uri(capture_s3_uri, "data capture location")
        if not 0 < capture_percentage <= 100:
            raise RequestError(f"capture_percentage={capture_percentage} must be 1 to 100")
    capture = None
    if capture_s3_uri is not None:
        capture = requests.data_capture(capture_s3_uri, capture_percentage)
    variant = requests.production_variant(model_name, instance_type, instance_count)
    request = requests.endpoint_config_request(name, variant, capture)
    return sm.create_endpoint_config(**request)["EndpointConfigArn"]


def create_endpoint(sm: Any, name: str, config_name: str) -> str:
    """Start creating the endpoint (it takes minutes: see ``wait_for_endpoint``)."""
    check_name(name, "endpoint name")
    return sm.create_endpoint(EndpointName=name, EndpointConfigName=config_name)["EndpointArn"]


def deploy(
    sm: Any,
    name: str,
    image_uri: str,
    model_data_url: str,
    role_arn: str,
    instance_type: str,
    instance_count: int = 1,
    capture_s3_uri: str | None = None,
    capture_percentage: int = 100,
) -> str:
    """Model, endpoint config and endpoint, all named ``name``; returns the endpoint's ARN.

    If a later step fails, what this call created is deleted again, so the same name can
    be deployed once the cause is fixed.
    """
    check_name(name, "endpoint name")
    check_image_uri(image_uri)
    check_s3_uri(model_data_url, "model data")
    check_role_arn(role_arn)
    check_instance(instance_type, instance_count)
    if capture_s3_uri is not None:
        check_s3_uri(capture_s3_uri, "data capture location")
    create_model(sm, name, image_uri, model_data_url, role_arn)
    try:
        create_endpoint_config(
            sm, name, name, instance_type, instance_count, capture_s3_uri, capture_percentage
        )
    except ClientError:
        _undo(sm.delete_model, ModelName=name)
        raise
    try:
        return create_endpoint(sm, name, name)
    except ClientError:
        _undo(sm.delete_endpoint_config, EndpointConfigName=name)
        _undo(sm.delete_model, ModelName=name)
        raise


def wait_for_endpoint(
    sm: Any,
    name: str,
    echo: Echo = print,
    poll_seconds: float = 30.0,
    timeout_seconds: float | None = None,
    logs: Any | None = None,
) -> dict[str, Any]:
    """Wait until the endpoint is InService; returns the final DescribeEndpoint.

    Raises ``EndpointFailed`` with FailureReason (often "the primary container did not pass
    the ping health check": its log, followed here given a CloudWatch Logs client, says
    why).
    """
    group = ENDPOINT_LOG_GROUP.format(name=name)
    endpoint = follow(
        lambda: sm.describe_endpoint(EndpointName=name),
        label=f"endpoint {name}",
        state=lambda e: e["EndpointStatus"],
        done=lambda e: (
            e["EndpointStatus"] == EndpointStatus.IN_SERVICE or e["EndpointStatus"] in FAILED
        ),
        echo=echo,
        tail=LogTail(logs, group, f"{VARIANT}/", echo) if logs is not None else None,
        poll_seconds=poll_seconds,
        timeout_seconds=timeout_seconds,
    )
    status = endpoint["EndpointStatus"]
    if status in FAILED:
        reason = endpoint.get("FailureReason") or f"the endpoint is {status}"
        raise EndpointFailed("endpoint", name, status, reason, endpoint)
    return endpoint


def invoke_endpoint(
    runtime: Any,
    name: str,
    body: bytes | str,
    content_type: str = "text/csv",
    accept: str | None = None,
) -> tuple[bytes, str]:
    """One InvokeEndpoint call; returns the response body and its content type.

    Bodies over 6 MiB are refused here, as SageMaker would, with the way out.
    """
    data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    if len(data) > MAX_INVOKE_BYTES:
        raise RequestError(
            f"request body is {len(data):,} bytes; InvokeEndpoint accepts at most "
            f"{MAX_INVOKE_BYTES:,}: send fewer rows per call, or use a batch transform"
        )
    request: dict[str, Any] = {"EndpointName": name, "Body": data, "ContentType": content_type}
    if accept is not None:
        request["Accept"] = accept
    answer = runtime.invoke_endpoint(**request)
    return answer["Body"].read(), answer.get("ContentType", "")


def delete_endpoint(sm: Any, name: str, delete_config_and_model: bool = True) -> list[str]:
    """Delete the endpoint and, by default, its endpoint config and model(s).

    Returns what was deleted (e.g. ``["endpoint x", "endpoint config x", "model x"]``).
    With no endpoint of that name, a config and model named ``name`` (left by a deploy that
    failed) are still removed; if there is nothing at all, the not-found error is raised.
    """
    if not delete_config_and_model:
        sm.delete_endpoint(EndpointName=name)
        return [f"endpoint {name}"]
    try:
        config_name = sm.describe_endpoint(EndpointName=name)["EndpointConfigName"]
    except ClientError as error:
        if not _not_found(error):
            raise
        leftovers = _delete_config_and_models(sm, name, [name])
        if not leftovers:
            raise
        return leftovers
    model_names = _model_names(sm, config_name)
    sm.delete_endpoint(EndpointName=name)
    return [f"endpoint {name}", *_delete_config_and_models(sm, config_name, model_names)]


def _delete_config_and_models(sm: Any, config_name: str, model_names: list[str]) -> list[str]:
    deleted = []
    if _delete_if_present(sm.delete_endpoint_config, EndpointConfigName=config_name):
        deleted.append(f"endpoint config {config_name}")
    for model_name in model_names:
        if _delete_if_present(sm.delete_model, ModelName=model_name):
            deleted.append(f"model {model_name}")
    return deleted


def _model_names(sm: Any, config_name: str) -> list[str]:
    try:
        config = sm.describe_endpoint_config(EndpointConfigName=config_name)
    except ClientError as error:
        if _not_found(error):
            return []
        raise
    return [variant["ModelName"] for variant in config.get("ProductionVariants", [])]


def _not_found(error: ClientError) -> bool:
    message = str(error.response.get("Error", {}).get("Message", "")).lower()
    return "could not find" in message or "does not exist" in message


def _undo(operation: Any, **request: Any) -> None:
    """Best-effort clean-up after a failed deploy: the original error is the one to show."""
    with contextlib.suppress(ClientError):
        operation(**request)


def _delete_if_present(operation: Any, **request: Any) -> bool:
    """Run a delete call; a thing already gone is not an error. True if it deleted."""
    try:
        operation(**request)
    except ClientError as error:
        if _not_found(error):
            return False
        raise
    return True
