"""bigmart.aws.images: the ECR repository, the registry login, build and push."""

from __future__ import annotations

import base64
import re
import subprocess
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from bigmart import aws
from support.aws_server import (
    ACCOUNT,
    REGION,
)
from support.sagemaker import Requests

# --- ECR ---------------------------------------------------------------------------------


class Recorder:
    """Stands in for subprocess.run: records each command and its keyword arguments."""

    def __init__(self, fail_at: str | None = None) -> None:
        self.calls: list[tuple[list[str], dict[str, Any]]] = []
        self.fail_at = fail_at

    def __call__(self, command: list[str], **options: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append((command, options))
        if command[1] == self.fail_at:
            raise subprocess.CalledProcessError(2, command)
        return subprocess.CompletedProcess(command, 0)


def test_push_image_builds_logs_in_with_stdin_and_pushes(boto: boto3.Session) -> None:
    run = Recorder()
    image = aws.push_image(boto, "bigmart", "v1", context_dir="/src", run=run)

    repository = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/bigmart"
    assert image == f"{repository}:v1"
    _, password, registry = aws.registry_login(boto.client("ecr"))
    assert [command for command, _ in run.calls] == [
        ["docker", "build", "--provenance=false", "--platform", "linux/amd64", "-t", image, "/src"],
        ["docker", "login", "--username", "AWS", "--password-stdin", registry],
        ["docker", "push", image],
    ]
    login_options = run.calls[1][1]
    assert login_options == {"check": True, "input": password, "text": True}
    assert all(password not in " ".join(command) for command, _ in run.calls)
    assert all(options["check"] is True for _, options in run.calls)

    # A second push reuses the repository.
    again = aws.push_image(boto, "bigmart", "v2", engine="podman", run=Recorder())
    assert again == f"{repository}:v2"
    repositories = boto.client("ecr").describe_repositories()["repositories"]
    assert [r["repositoryName"] for r in repositories] == ["bigmart"]


def test_podman_builds_and_pushes_in_the_docker_format_sagemaker_requires(
    boto: boto3.Session,
) -> None:
    run = Recorder()
    image = aws.push_image(boto, "bigmart", engine="podman", platform=None, run=run)
    build, _, push = (command for command, _ in run.calls)
    assert build == ["podman", "build", "--format", "docker", "-t", image, "."]
    assert push == ["podman", "push", "--format", "v2s2", image]


def test_the_machines_engine_flags_go_before_every_command_and_build_args_to_the_build(
    boto: boto3.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BIGMART_ENGINE_FLAGS", "--storage-driver vfs --runtime runc")
    run = Recorder()
    image = aws.push_image(
        boto,
        "bigmart",
        engine="podman",
        platform=None,
        run=run,
        build_variables={"BASE_IMAGE": "mirror.example/python:3.12-slim", "X": "a b"},
    )
    build, login, push = (command for command, _ in run.calls)
    flags = ["podman", "--storage-driver", "vfs", "--runtime", "runc"]
    assert build == [
        *(*flags, "build", "--format", "docker"),
        *("--build-arg", "BASE_IMAGE=mirror.example/python:3.12-slim", "--build-arg", "X=a b"),
        *("-t", image, "."),
    ]
    assert login[: len(flags) + 1] == [*flags, "login"]
    assert push == [*flags, "push", "--format", "v2s2", image]


def test_ensure_repository_creates_once_then_reuses(boto: boto3.Session) -> None:
    ecr = boto.client("ecr")
    sent = Requests().attach(ecr)
    first = aws.ensure_repository(ecr, "ml/bigmart")
    second = aws.ensure_repository(ecr, "ml/bigmart")
    assert first == second == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/ml/bigmart"
    assert len(sent.of("CreateRepository")) == 1
    with pytest.raises(aws.RequestError, match="lower-case"):
        aws.ensure_repository(ecr, "BigMart")


def test_registry_login_decodes_the_token() -> None:
    ecr = boto3.client("ecr", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    token = base64.b64encode(b"AWS:secret-password").decode()
    with Stubber(ecr) as stub:
        stub.add_response(
            "get_authorization_token",
            {
                "authorizationData": [
                    {
                        "authorizationToken": token,
                        "proxyEndpoint": f"https://{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com",
                    }
                ]
            },
        )
        login = aws.registry_login(ecr)
    assert login == ("AWS", "secret-password", f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com")


@pytest.mark.parametrize(
    ("run", "message"),
    [
        (Recorder(fail_at="build"), "`docker build` failed with exit code 2"),
        (Recorder(fail_at="push"), "`docker push` failed with exit code 2"),
    ],
)
def test_a_failed_step_says_which(boto: boto3.Session, run: Recorder, message: str) -> None:
    with pytest.raises(aws.ImageError, match=re.escape(message)):
        aws.push_image(boto, "bigmart", run=run)


def test_a_missing_engine_says_so(boto: boto3.Session) -> None:
    def missing(command: list[str], **_: Any) -> None:
        raise FileNotFoundError(command[0])

    with pytest.raises(aws.ImageError, match="docker is not installed"):
        aws.push_image(boto, "bigmart", run=missing)
    with pytest.raises(aws.RequestError, match="engine 'nerdctl'"):
        aws.push_image(boto, "bigmart", engine="nerdctl", run=missing)
