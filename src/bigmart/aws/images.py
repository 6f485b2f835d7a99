"""The image in Amazon ECR: the repository, a registry login, build and push.

SageMaker pulls only Docker v2 (schema 2) manifests: an OCI manifest or index (podman's
default format, and what Docker's BuildKit makes when it attaches provenance) fails
CreateModel with "Unsupported manifest media type". So podman builds and pushes in Docker
format and Docker builds without provenance. SageMaker's standard instances are x86-64, so
the image is built for linux/amd64 unless told otherwise (an Apple-silicon laptop would
otherwise make an arm64 image that fails with "exec format error").
"""

from __future__ import annotations

import base64
import re
import subprocess
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from bigmart.errors import BigmartError, RequestError
from bigmart.local.engines import engine_flags as machine_engine_flags

ENGINES = ("docker", "podman")
# Flags keeping the manifest in the Docker v2 format SageMaker accepts.
BUILD_FLAGS = {"docker": ["--provenance=false"], "podman": ["--format", "docker"]}
PUSH_FLAGS = {"docker": [], "podman": ["--format", "v2s2"]}
REPOSITORY = re.compile(r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*")
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")

Run = Callable[..., Any]


class ImageError(BigmartError, RuntimeError):
    """Building, logging in or pushing failed; the message says which step and why."""


def ensure_repository(ecr: Any, name: str) -> str:
    """The URI of ECR repository ``name``, created if missing (repeat runs reuse it)."""
    if not 2 <= len(name) <= 256 or not REPOSITORY.fullmatch(name):
        raise RequestError(
            f"repository name {name!r} is invalid: use lower-case letters, digits and . _ - / "
            "(e.g. bigmart or ml/bigmart)"
        )
    try:
        found = ecr.describe_repositories(repositoryNames=[name])
        return found["repositories"][0]["repositoryUri"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "RepositoryNotFoundException":
            raise
    try:
        created = ecr.create_repository(repositoryName=name)
        return created["repository"]["repositoryUri"]
    except ClientError as error:
        # Someone else created it in between: use theirs.
        if error.response.get("Error", {}).get("Code") != "RepositoryAlreadyExistsException":
            raise
        return ecr.describe_repositories(repositoryNames=[name])["repositories"][0]["repositoryUri"]


def registry_login(ecr: Any) -> tuple[str, str, str]:
    """``(username, password, registry)`` for ``<engine> login``, valid for 12 hours.

    ECR's token is base64 of ``AWS:<password>``; the registry is the endpoint's host.
    """
    data = ecr.get_authorization_token()["authorizationData"][0]
    username, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    registry = data["proxyEndpoint"].removeprefix("https://").removeprefix("http://")
    return username, password, registry.rstrip("/")


def push_image(
    session: Any,
    repository: str,
    tag: str = "latest",
    engine: str = "docker",
    context_dir: str = ".",
    run: Run = subprocess.run,
    platform: str | None = "linux/amd64",
    build_args: Sequence[str] | None = None,
    build_variables: Mapping[str, str] | None = None,
    engine_flags: Sequence[str] | None = None,
) -> str:
    """Build the image from ``context_dir``, log in to ECR and push; returns the image URI.

    Commands, in order: ``<engine> build``, ``<engine> login --password-stdin`` (the
    password never appears in a command line) and ``<engine> push``. ``run`` is called like
    ``subprocess.run``; tests pass a recorder. ``build_args`` replaces the flags that keep
    the manifest in Docker format (e.g. ``[]`` for Docker's legacy builder, which makes
    that format anyway and does not know ``--provenance``). ``build_variables`` are the
    Dockerfile's ``ARG`` values (``--build-arg KEY=VALUE``, e.g. ``BASE_IMAGE``).
    ``engine_flags`` go before every command's verb, as the local engines get them
    (default: ``BIGMART_ENGINE_FLAGS``, e.g. podman's ``--storage-driver vfs``).
    """
    if engine not in ENGINES:
        raise RequestError(f"engine {engine!r} is not supported: use one of {ENGINES}")
    if not TAG.fullmatch(tag):
        raise RequestError(
            f"tag {tag!r} is invalid: up to 128 letters, digits, '_', '.', '-', "
            "not starting with '.' or '-'"
        )
    ecr = session.client("ecr")
    image_uri = f"{ensure_repository(ecr, repository)}:{tag}"
    prefix = [engine, *(machine_engine_flags() if engine_flags is None else engine_flags)]
    flags = BUILD_FLAGS[engine] if build_args is None else list(build_args)
    build = [*prefix, "build", *flags]
    for key, value in (build_variables or {}).items():
        build += ["--build-arg", f"{key}={value}"]
    if platform:
        build += ["--platform", platform]
    build += ["-t", image_uri, context_dir]
    _step(run, "build", build)
    username, password, registry = registry_login(ecr)
    login = [*prefix, "login", "--username", username, "--password-stdin", registry]
    _step(run, "login", login, input=password, text=True)
    _step(run, "push", [*prefix, "push", *PUSH_FLAGS[engine], image_uri])
    return image_uri


def _step(run: Run, what: str, command: list[str], **options: Any) -> None:
    try:
        run(command, check=True, **options)
    except FileNotFoundError:
        other = "podman" if command[0] == "docker" else "docker"
        raise ImageError(
            f"{command[0]} is not installed or not on PATH: install it, or use {other}"
        ) from None
    except subprocess.CalledProcessError as error:
        raise ImageError(
            f"`{command[0]} {what}` failed with exit code {error.returncode}: "
            "its output above says why"
        ) from None
