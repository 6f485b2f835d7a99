"""``bigmart serve``: a model folder or archive served locally, on 127.0.0.1 unless told
otherwise (issue 10, item 13)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bigmart.local.server_process import PING_TIMEOUT_SECONDS, free_port, ping
from support.cli import BIGMART, bigmart
from support.servers import FEATURE_LINE, RunningServer, listening_addresses


def test_bigmart_serve_listens_on_loopback_only(trained_model, tmp_path):
    port = free_port()
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - the child writes it
    process = subprocess.Popen(
        [BIGMART, "serve", "--model", str(trained_model), "--port", str(port), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not ping(port, timeout=1):
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.05)
        assert listening_addresses(port) == {"127.0.0.1"}
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        log.close()


def test_a_host_that_is_not_an_address_is_one_line():
    for command in (
        ("serve", "--model", "m"),
        ("endpoint", "create", "--model", "m", "--name", "x"),
    ):
        refused = bigmart(*command, "--host", "example host")
        assert refused.returncode == 2 and "expected an IP address" in refused.stderr
        assert "Traceback" not in refused.stderr


def predictions_csv(response) -> list[float]:
    assert response.status == 200, response.body
    return [float(line) for line in response.body.decode().splitlines()]


def test_bigmart_serve_runs_a_model_archive_locally(trained_model, tmp_path):
    from bigmart.model.archive import pack

    archive = pack(trained_model, tmp_path / "model.tar.gz")
    port = free_port()
    bigmart = Path(sys.executable).with_name("bigmart")
    log = open(tmp_path / "log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [str(bigmart), "serve", "--model", str(archive), "--port", str(port), "--workers", "1"],
        stdout=log,
        stderr=log,
    )
    server = RunningServer(tmp_path, port=port, log_path=tmp_path / "log")
    server.process = process  # started by `bigmart serve`, which makes its own /opt/ml
    try:
        server.wait_until_healthy(PING_TIMEOUT_SECONDS)
        assert len(predictions_csv(server.invoke(FEATURE_LINE.encode()))) == 1
    finally:
        assert server.stop() == 0
    unpacked = [line for line in server.log().splitlines() if "serving " in line]
    model_dir = unpacked[0].split("serving ", 1)[1].split(" on port")[0]
    assert not Path(model_dir).exists()  # the temporary /opt/ml is removed


@pytest.mark.parametrize("damage", ["missing", "not-an-archive", "checksum"])
def test_a_missing_or_corrupt_model_exits_3_with_one_line(trained_model, tmp_path, damage):
    """As the image's ``serve`` does (README, Serving): exit 3, one log line, no port."""
    model = tmp_path / "model"
    if damage == "not-an-archive":
        model = tmp_path / "model.tar.gz"
        model.write_bytes(b"not a tar file")
    elif damage == "checksum":
        shutil.copytree(trained_model, model)
        (model / "featurizer.json").write_text((model / "featurizer.json").read_text() + " ")
    refused = bigmart("serve", "--model", str(model), "--port", str(free_port()))
    assert refused.returncode == 3, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot load the model from" in lines[0], refused.stderr
    assert str(model) in lines[0]
