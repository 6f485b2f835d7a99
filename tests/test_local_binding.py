"""Local servers answer this machine only unless told otherwise (issue 10, item 13).

``bigmart serve``, ``bigmart endpoint create`` and the server a local transform starts
(``workflow/model_server.py``) bind 127.0.0.1; ``--host`` binds another address with a loud
warning; the image's own ``serve`` keeps 0.0.0.0, as SageMaker requires. Each test reads the
listening socket's address from the kernel (``/proc/net/tcp``), not from what is printed.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bigmart.cli.common import store
from bigmart.local.engines import serve_command
from bigmart.local.server_process import ModelServer, free_port, ping, port_in_use

BIGMART = str(Path(sys.executable).with_name("bigmart"))


def listening_addresses(port: int) -> set[str]:
    """The addresses sockets listen on at ``port``, as the kernel reports them."""
    found = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            address, hex_port = fields[1].split(":")
            if fields[3] != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)  # each 32-bit word in the host's byte order
            words = [raw[i : i + 4] for i in range(0, len(raw), 4)]
            if sys.byteorder == "little":
                words = [word[::-1] for word in words]
            found.add(socket.inet_ntop(family, b"".join(words)))
    return found


def bigmart(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BIGMART, *args], capture_output=True, text=True, timeout=120)


def test_the_address_reader_sees_a_loopback_and_a_wildcard_listener():
    for host in ("127.0.0.1", "0.0.0.0"):
        with socket.socket() as listener:
            listener.bind((host, 0))
            listener.listen()
            assert listening_addresses(listener.getsockname()[1]) == {host}


def test_an_endpoint_listens_on_loopback_only(trained_model):
    created = bigmart(
        "endpoint", "create", "--model", str(trained_model), "--name", "ep-local", "--workers", "1"
    )
    assert created.returncode == 0, created.stderr
    try:
        port = store().get("ep-local").artifacts["port"]
        assert listening_addresses(port) == {"127.0.0.1"}
        assert "WARNING" not in created.stderr
    finally:
        assert bigmart("endpoint", "delete", "ep-local").returncode == 0


def test_an_endpoint_on_another_address_is_told_loudly_and_still_answers(trained_model):
    created = bigmart(
        "endpoint", "create", "--model", str(trained_model), "--name", "ep-open",
        "--workers", "1", "--host", "0.0.0.0",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    try:
        assert "WARNING: --host 0.0.0.0" in created.stderr
        port = store().get("ep-open").artifacts["port"]
        assert listening_addresses(port) == {"0.0.0.0"}
        body = Path(store().get("ep-open").artifacts["model_dir"]).parent / "body.csv"
        body.write_text(
            "FDW58,20.75,Low Fat,0.007564836,Snack Foods,107.8622,OUT049,1999,Medium,"
            "Tier 1,Supermarket Type1\n"
        )
        assert bigmart("endpoint", "invoke", "ep-open", "--body", str(body)).returncode == 0
    finally:
        assert bigmart("endpoint", "delete", "ep-open").returncode == 0


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


def test_the_transform_server_listens_on_loopback_only(trained_model, tmp_path):
    from bigmart.model.artifact import copy_model

    copy_model(trained_model, tmp_path / "model")
    server = ModelServer(tmp_path, environment={"SAGEMAKER_MODEL_SERVER_WORKERS": "1"})
    server.start()
    try:
        assert listening_addresses(server.port) == {"127.0.0.1"}
    finally:
        server.stop()


def test_a_host_that_is_not_an_address_is_one_line():
    for command in (
        ("serve", "--model", "m"),
        ("endpoint", "create", "--model", "m", "--name", "x"),
    ):
        refused = bigmart(*command, "--host", "example host")
        assert refused.returncode == 2 and "expected an IP address" in refused.stderr
        assert "Traceback" not in refused.stderr


def test_a_container_engine_is_told_to_bind_loopback(tmp_path, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    command = serve_command("podman", "img", tmp_path, 9000, {})
    assert "BIGMART_BIND_HOST=127.0.0.1" in command
    assert command[command.index("BIGMART_BIND_HOST=127.0.0.1") - 1] == "-e"
    opened = serve_command("docker", "img", tmp_path, 9000, {}, "0.0.0.0")
    assert "BIGMART_BIND_HOST=0.0.0.0" in opened


@pytest.mark.parametrize(("taken", "probed"), [("0.0.0.0", "127.0.0.1"), ("127.0.0.1", "0.0.0.0")])
def test_the_port_probe_checks_the_address_serve_will_bind(taken, probed):
    with socket.socket() as other:
        other.bind((taken, 0))
        other.listen()
        port = other.getsockname()[1]
        assert port_in_use(port, probed)
    assert not port_in_use(port, probed)
