"""The container commands an engine is given, and a missing engine; with each engine of
``BIGMART_TEST_ENGINES`` (``process`` unless CI built the image and lists podman), an endpoint
whose server process was killed outright is still deleted whole (a container engine's
container outlives its client: it is removed by name)."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest

from bigmart.local.engines import exit_reason, serve_command, train_command
from bigmart.local.server_process import ping
from support.cli import BIGMART, process_gone, show_job
from support.endpoints import until

ENGINES = [e for e in os.environ.get("BIGMART_TEST_ENGINES", "process").split(",") if e]
IMAGE = os.environ.get("BIGMART_TEST_IMAGE", "localhost/bigmart:latest")


def test_container_commands_are_sagemakers(tmp_path, monkeypatch):
    monkeypatch.setenv("BIGMART_ENGINE_FLAGS", "--storage-driver vfs")
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    assert train_command("process", "img", tmp_path) is None
    train = train_command("podman", "img", tmp_path)
    assert train is not None
    assert train[:3] == ["podman", "--storage-driver", "vfs"]
    assert train[-2:] == ["img", "train"] and f"{tmp_path}:/opt/ml" in train
    assert "none" in train  # no network while training
    serve = serve_command("docker", "img", tmp_path, 9000, {"SAGEMAKER_BATCH": "true"})
    assert serve[-2:] == ["img", "serve"]
    assert "SAGEMAKER_BIND_TO_PORT=9000" in serve and "SAGEMAKER_BATCH=true" in serve
    assert f"{tmp_path}:/opt/ml/model:ro" in serve


def test_a_missing_engine_is_one_clear_error(tmp_path, real_train_csv):
    result = subprocess.run(
        [
            BIGMART,
            "train",
            "--data",
            str(real_train_csv),
            "--output",
            str(tmp_path),
            "--engine",
            "docker",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PATH": "/nonexistent"},
    )
    assert result.returncode == 2
    assert "docker is not installed" in result.stderr


def test_a_serve_container_is_given_a_name_of_its_own(tmp_path, monkeypatch):
    from bigmart.local.engines import ServeContainer

    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    assert ServeContainer.named_for("process", 9000) is None
    first, second = (ServeContainer.named_for("podman", 9000) for _ in range(2))
    assert first is not None and second is not None and first.name != second.name
    assert re.fullmatch(r"bigmart-serve-9000-[0-9a-f]{8}", first.name)
    command = serve_command("podman", "img", tmp_path, 9000, {}, container=first)
    assert command[command.index("--name") + 1] == first.name
    assert command.index("--name") < command.index("img")
    assert "--name" not in serve_command("podman", "img", tmp_path, 9000, {})
    assert serve_command("process", "img", tmp_path, 9000, {}, container=first) == (
        serve_command("process", "img", tmp_path, 9000, {})
    )


def test_a_container_engine_is_told_to_bind_loopback(tmp_path, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    command = serve_command("podman", "img", tmp_path, 9000, {})
    assert "BIGMART_BIND_HOST=127.0.0.1" in command
    assert command[command.index("BIGMART_BIND_HOST=127.0.0.1") - 1] == "-e"
    opened = serve_command("docker", "img", tmp_path, 9000, {}, "0.0.0.0")
    assert "BIGMART_BIND_HOST=0.0.0.0" in opened


def test_an_image_map_runs_the_local_image_where_a_request_names_another(monkeypatch, tmp_path):
    from bigmart.local import engines

    monkeypatch.setattr(engines.shutil, "which", lambda name: f"/usr/bin/{name}")
    ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com/bigmart:1"
    monkeypatch.setenv(engines.IMAGE_MAP_VARIABLE, f"{ecr}=localhost/bigmart:test,a=b")
    train = engines.train_command("podman", ecr, tmp_path)
    serve = engines.serve_command("podman", ecr, tmp_path, 8080, {})
    assert train is not None and "localhost/bigmart:test" in train and ecr not in train
    assert "localhost/bigmart:test" in serve and ecr not in serve
    assert "other:1" in engines.serve_command("podman", "other:1", tmp_path, 8080, {})


def test_a_malformed_image_map_is_one_clear_error():
    import subprocess

    from support.cli import BIGMART

    result = subprocess.run(
        [BIGMART, "api", "--port", "1", "--image-map", "no-equals-sign"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip().splitlines()[-1].endswith("'no-equals-sign': expected REMOTE=LOCAL")
    )


#: What docker and podman print when they cannot run a container at all, and their code.
ENGINE_ERRORS = {
    "docker": (
        "docker: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
        "Is the docker daemon running?.\nSee 'docker run --help'.",
        "docker: Cannot connect to the Docker daemon",
    ),
    "podman": (
        "Error: localhost/bigmart:latest: image not known",
        "Error: localhost/bigmart:latest: image not known",
    ),
}


def _failing_engine(tmp_path: Path, engine: str) -> dict[str, str]:
    """An ``engine`` on PATH that prints its own error on stderr and exits 125."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    fake = folder / engine
    message = ENGINE_ERRORS[engine][0]
    fake.write_text(f"#!/bin/sh\ncat >&2 <<'END'\n{message}\nEND\nexit 125\n")
    fake.chmod(0o755)
    return {**os.environ, "PATH": f"{folder}:{os.environ['PATH']}", "BIGMART_HOME": str(tmp_path)}


@pytest.mark.parametrize("engine", ["docker", "podman"])
def test_an_engine_that_cannot_run_train_is_quoted_in_the_failure_reason(
    engine, tmp_path, real_train_csv
):
    environment = _failing_engine(tmp_path, engine)
    result = subprocess.run(
        [
            *(BIGMART, "train", "--data", str(real_train_csv), "--output", str(tmp_path)),
            *("--engine", engine, "--name", "no-daemon"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
    )
    assert result.returncode == 1
    reason = show_job("no-daemon", environment)["failure_reason"]
    assert reason.startswith(f"{engine} could not run train (exit 125): "), reason
    assert ENGINE_ERRORS[engine][1] in reason and "--help" not in reason
    assert reason in result.stderr


@pytest.mark.parametrize("engine", ["docker", "podman"])
def test_an_engine_that_cannot_run_serve_is_quoted_by_endpoint_and_transform(
    engine, tmp_path, model_archive
):
    environment = _failing_engine(tmp_path, engine)
    model = ["--model", str(model_archive), "--engine", engine]
    created = subprocess.run(
        [BIGMART, "endpoint", "create", *model, "--name", "no-daemon-ep"],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
    )
    assert created.returncode == 2
    expected = f"{engine} could not run serve (exit 125): {ENGINE_ERRORS[engine][1]}"
    assert expected in created.stderr
    assert expected in show_job("no-daemon-ep", environment)["failure_reason"]
    rows = tmp_path / "in.csv"
    rows.write_text("a\n")
    transformed = subprocess.run(
        [
            *(BIGMART, "transform", *model, "--input", str(rows)),
            *("--output", str(tmp_path / "out"), "--name", "no-daemon-tf"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
    )
    assert transformed.returncode == 1
    assert show_job("no-daemon-tf", environment)["failure_reason"].startswith(expected)


def test_an_exit_reason_names_the_program_unless_the_engine_itself_failed():
    assert exit_reason(["/usr/bin/python3"], "train", 1, ["a", "", "b"]) == (
        "train exited with code 1: a | b"
    )
    assert exit_reason(["docker", "run"], "train", 137, []) == "train exited with code 137"
    assert exit_reason(["podman"], "serve", 127, ["x"] * 5 + ["Error: no serve"]) == (
        "podman could not run serve (exit 127): x | x | Error: no serve"
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_an_endpoint_whose_server_was_killed_outright_is_deleted_whole(
    engine, tmp_path, model_archive
):
    environment = {**os.environ, "BIGMART_HOME": str(tmp_path)}
    podman = ["podman", *shlex.split(os.environ.get("BIGMART_ENGINE_FLAGS", ""))]

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, capture_output=True, text=True, timeout=300, env=environment)

    image = ("--engine", engine, "--image", IMAGE) if engine != "process" else ()
    created = run(
        *(BIGMART, "endpoint", "create", "--model", str(model_archive), "--name", "orphan"),
        *image,
        *("--workers", "1"),
    )
    assert created.returncode == 0, created.stderr
    server = show_job("orphan", environment)["artifacts"]
    assert isinstance(server, dict)
    name, port, client = server.get("container"), server["port"], server["pid"]
    assert (name is None) == (engine == "process")
    try:
        os.kill(client, signal.SIGKILL)  # as the OOM killer, or delete's own SIGKILL, would
        deadline = time.monotonic() + 10
        while not process_gone(client) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process_gone(client)
        if name is None:  # serve's own workers end with their master
            until(lambda: not ping(port), "the killed server's workers to end", 30)
        else:
            assert ping(port)  # the container outlived its client: only its name can stop it
        deleted = run(BIGMART, "endpoint", "delete", "orphan")
        assert deleted.returncode == 0, deleted.stderr
        assert not ping(port)
        if name is not None:
            listed = run(
                *podman, "ps", "-a", "--filter", f"name=^{name}$", "--format", "{{.Names}}"
            )
            assert listed.returncode == 0 and listed.stdout.strip() == "", listed.stdout
    finally:
        if name is not None:
            run(*podman, "rm", "-f", "--time", "0", name)
