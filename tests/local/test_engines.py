"""The container commands an engine is given, and a missing engine."""

from __future__ import annotations

import os
import subprocess

from bigmart.local.engines import serve_command, train_command
from support.cli import BIGMART


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
