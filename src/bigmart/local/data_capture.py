"""A local endpoint's DataCaptureConfig: checked when its endpoint config is created, and
turned into what ``serve`` needs to capture when the endpoint's server starts.

A local endpoint has no platform in front of ``serve`` to capture, so ``serve`` captures
itself (``bigmart.container.capture``), told by ``BIGMART_DATA_CAPTURE``. The destination is
a folder or an ``s3://`` URI; files for S3 wait for their upload in a staging folder kept
beside the endpoint's folders (``<state>/endpoints/<name>.capture``), so a file whose
upload failed is uploaded by the endpoint's next server. With a container engine the folder
and the staging folder are mounted into the container, and for S3 the AWS variables of this
environment are passed on by name (their values never appear on a command line).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bigmart.contract import Env
from bigmart.local.lifecycle import RequestRefused
from bigmart.local.storage import StorageError, is_s3

#: Where the destination folder and the staging folder are mounted in a container.
CONTAINER_DESTINATION = "/opt/ml/data-capture"
CONTAINER_STAGING = "/opt/ml/data-capture-staging"
#: What boto3 reads from the environment (credentials, region, endpoint, proxies), passed
#: on by name to a container that uploads.
UPLOAD_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_MAX_ATTEMPTS",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
)
MODES = ("Input", "Output")


def check_data_capture(config_name: str, capture: Mapping[str, Any] | None) -> None:
    """Refuse a DataCaptureConfig this machine cannot capture to, naming the field."""
    if not capture:
        return
    where = f"endpoint config {config_name!r}: DataCaptureConfig"
    target = capture.get("DestinationS3Uri")
    if not isinstance(target, str) or not target.strip():
        raise RequestRefused(f"{where}: DestinationS3Uri is required (s3:// or a folder)")
    if "://" in target and not is_s3(target):
        raise RequestRefused(
            f"{where}: DestinationS3Uri {target!r}: locally an s3:// URI or a folder"
        )
    percentage = capture.get("InitialSamplingPercentage", 100)
    if type(percentage) is not int or not 0 <= percentage <= 100:
        raise RequestRefused(
            f"{where}: InitialSamplingPercentage {percentage!r}: expected 0 to 100"
        )
    modes = [option.get("CaptureMode") for option in capture.get("CaptureOptions") or []]
    if not modes or any(mode not in MODES for mode in modes):
        raise RequestRefused(f"{where}: CaptureOptions {modes!r}: expected Input and/or Output")


def capture_status(capture: Mapping[str, Any]) -> dict[str, Any]:
    """DescribeEndpoint's DataCaptureConfig (a summary) for an endpoint config's one."""
    enabled = capture.get("EnableCapture", True) is not False
    return {
        "EnableCapture": enabled,
        "CaptureStatus": "Started" if enabled else "Stopped",
        "CurrentSamplingPercentage": capture.get("InitialSamplingPercentage", 100),
        "DestinationS3Uri": capture.get("DestinationS3Uri", ""),
    }


@dataclass(frozen=True)
class CaptureSetup:
    """What ``serve`` is started with to capture: variables, mounts (host folder, container
    path) and the names of variables a container inherits."""

    environment: dict[str, str] = field(default_factory=dict)
    volumes: tuple[tuple[Path, str], ...] = ()
    inherited: tuple[str, ...] = ()


def capture_setup(
    endpoint: str,
    variant: str,
    capture: Mapping[str, Any] | None,
    staging: Path,
    engine: str,
) -> CaptureSetup:
    """How endpoint ``endpoint``'s server captures (nothing without an enabled capture).
    The destination folder is created here: a folder that cannot be is the endpoint's
    failure, not a surprise in the server's log."""
    if not capture or capture.get("EnableCapture", True) is False:
        return CaptureSetup()
    target = str(capture["DestinationS3Uri"])
    in_container = engine != "process"
    volumes: list[tuple[Path, str]] = []
    inherited: tuple[str, ...] = ()
    if is_s3(target):
        _make(staging)
        staging_seen = CONTAINER_STAGING if in_container else str(staging)
        if in_container:
            volumes.append((staging, CONTAINER_STAGING))
            inherited = tuple(name for name in UPLOAD_VARIABLES if name in os.environ)
        target_seen = target
    else:
        folder = Path(target).absolute()
        _make(folder)
        target_seen = CONTAINER_DESTINATION if in_container else str(folder)
        if in_container:
            volumes.append((folder, CONTAINER_DESTINATION))
        staging_seen = ""
    request = {
        **{key: value for key, value in capture.items() if key != "KmsKeyId"},
        "DestinationS3Uri": target_seen,
        "EndpointName": endpoint,
        "VariantName": variant,
    }
    environment = {Env.BIGMART_DATA_CAPTURE: json.dumps(request, separators=(",", ":"))}
    if staging_seen:
        environment[Env.BIGMART_CAPTURE_STAGING] = staging_seen
    return CaptureSetup(environment, tuple(volumes), inherited)


def _make(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StorageError(
            f"data capture destination {folder}: {error.strerror or error}"
        ) from None
