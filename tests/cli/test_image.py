"""``bigmart image push`` with moto standing in for ECR."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import boto3

from support.aws_server import (
    ACCOUNT,
    REGION,
)
from support.remote import bigmart


def recording_podman(tmp_path: Path) -> tuple[Path, Path]:
    """A ``podman`` stand-in that appends each command line it gets to ``calls`` (JSON
    lines) and reads the password ``login`` is given on stdin; returns (it, calls)."""
    calls = tmp_path / "calls.jsonl"
    fake = tmp_path / "bin" / "podman"
    fake.parent.mkdir()
    fake.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(calls)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "sys.stdin.read() if 'login' in sys.argv else None\n"
    )
    fake.chmod(0o755)
    return fake, calls


def test_image_push_builds_logs_in_and_pushes_with_the_engine(env, tmp_path):
    fake, calls = recording_podman(tmp_path)
    result = bigmart(
        {**env, "PATH": f"{fake.parent}:{env['PATH']}"},
        "image",
        "push",
        "--repository",
        "bigmart",
        "--engine",
        "podman",
        "--tag",
        "v1",
    )
    assert result.returncode == 0, result.stderr
    uri = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/bigmart:v1"
    assert result.stdout.strip() == uri
    commands = [json.loads(line) for line in calls.read_text().splitlines()]
    assert [c[0] for c in commands] == ["build", "login", "push"]
    assert "--password-stdin" in commands[1] and uri in commands[2]
    repositories = (
        boto3.session.Session(region_name=REGION)
        .client(
            "ecr",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        .describe_repositories()["repositories"]
    )
    assert [r["repositoryName"] for r in repositories] == ["bigmart"]


def test_image_push_passes_the_engine_flags_and_the_base_image(env, tmp_path):
    fake, calls = recording_podman(tmp_path)
    environment = {
        **env,
        "PATH": f"{fake.parent}:{env['PATH']}",
        "BIGMART_ENGINE_FLAGS": "--storage-driver vfs",
    }
    result = bigmart(
        environment,
        *("image", "push", "--repository", "bigmart", "--engine", "podman"),
        *("--base-image", "mirror.example/python:3.12-slim", "--build-arg", "PIP_INDEX=none"),
    )
    assert result.returncode == 0, result.stderr
    build, login, push = [json.loads(line) for line in calls.read_text().splitlines()]
    assert build[:3] == ["--storage-driver", "vfs", "build"]
    assert login[:3] == ["--storage-driver", "vfs", "login"]
    assert push[:3] == ["--storage-driver", "vfs", "push"]
    assert "BASE_IMAGE=mirror.example/python:3.12-slim" in build
    assert build[build.index("PIP_INDEX=none") - 1] == "--build-arg"


def test_image_push_refuses_a_build_arg_without_a_value(env):
    result = bigmart(env, "image", "push", "--repository", "bigmart", "--build-arg", "BASE_IMAGE")
    assert result.returncode == 2 and "expected KEY=VALUE" in result.stderr
