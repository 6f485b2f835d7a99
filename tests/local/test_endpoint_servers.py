"""local.endpoint_servers: a recorded server is judged by its master, and stopping it leaves
none of its processes running, even those its master left behind when killed outright, nor
the container of an engine whose client was killed outright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bigmart.local.endpoint_servers import EndpointServer, start_server
from bigmart.local.processes import ProcessIdentity
from bigmart.local.server_process import free_port, ping
from support.cli import process_gone
from support.engines import podman_calls, serving_podman

#: A master that forks one "worker" answering ``/ping`` with 200, as a server's would.
MASTER = """
import http.server, os, sys, time

class Ping(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

if os.fork() == 0:
    listener = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Ping)
    listener.serve_forever()
time.sleep(120)
"""


def _server_with_a_worker_left_behind(folder: Path) -> tuple[EndpointServer, int]:
    """A recorded server whose master was SIGKILLed while its worker still answers."""
    port = free_port()
    environment = {**os.environ, "OPT_ML": str(folder), "SAGEMAKER_BIND_TO_PORT": str(port)}
    master = subprocess.Popen(
        [sys.executable, "-c", MASTER, str(port)], env=environment, start_new_session=True
    )
    identity = ProcessIdentity.of(master.pid)
    assert identity is not None
    children = Path(f"/proc/{master.pid}/task/{master.pid}/children")
    deadline = time.monotonic() + 30
    while not (ping(port) and children.read_text().split()) and time.monotonic() < deadline:
        time.sleep(0.05)
    (worker,) = map(int, children.read_text().split())
    master.kill()
    master.wait()
    server = EndpointServer(
        port=port,
        pid=master.pid,
        start_time=identity.start_time,
        model_dir=str(folder / "model"),
    )
    return server, worker


def test_a_server_whose_master_died_does_not_answer_and_stop_ends_what_it_left(tmp_path):
    server, worker = _server_with_a_worker_left_behind(tmp_path / "ep")
    try:
        assert ping(server.port)  # the worker left behind still answers on the port
        assert not server.answers()  # but the server is dead: nothing would replace it
        note = server.stop()
        assert "already exited" in note and "1 worker(s)" in note, note
        assert process_gone(worker)
    finally:
        if not process_gone(worker):
            os.kill(worker, signal.SIGKILL)


def test_stop_leaves_alone_a_group_member_not_started_for_this_endpoint(tmp_path):
    server, worker = _server_with_a_worker_left_behind(tmp_path / "ep")
    try:
        other = EndpointServer(
            port=server.port + 1,
            pid=server.pid,
            start_time=server.start_time,
            model_dir=str(tmp_path / "other" / "model"),
        )
        assert other.stop() == f"its server, process {server.pid}, had already exited"
        assert not process_gone(worker)
    finally:
        os.kill(worker, signal.SIGKILL)


@pytest.fixture
def podman(tmp_path, monkeypatch) -> Path:
    """The ``podman`` stand-in on PATH, with a global flag; returns its calls file."""
    folder, calls = serving_podman(tmp_path)
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")
    monkeypatch.setenv("BIGMART_ENGINE_FLAGS", "--storage-driver vfs")
    return calls


def _killed_client(folder: Path, model: Path) -> EndpointServer:
    """A server started with podman, its record read back, its engine client SIGKILLed."""
    started = start_server(folder, {"ModelDataUrl": str(model)}, engine="podman")
    server = EndpointServer.recorded(started.artifacts())
    assert server is not None and isinstance(server.pid, int)
    os.kill(server.pid, signal.SIGKILL)
    os.waitpid(server.pid, 0)  # this test's child: reaped here, by init otherwise
    return server


def test_an_engine_server_is_named_and_stop_removes_it_after_its_client_died(
    podman, tmp_path, trained_model
):
    server = _killed_client(tmp_path / "ep", trained_model)
    name = server.container
    assert name is not None and name.startswith(f"bigmart-serve-{server.port}-")
    (run,) = podman_calls(podman)
    assert run[run.index("--name") + 1] == name
    note = server.stop()
    assert note == (
        f"its podman client, process {server.pid}, had already exited; "
        f"its container {name} is removed"
    )
    stop, remove = podman_calls(podman)[1:]
    assert stop == ["--storage-driver", "vfs", "stop", "--time", "35", name]
    assert remove == ["--storage-driver", "vfs", "rm", "-f", name]


def test_a_container_already_gone_is_stopped(podman, tmp_path, trained_model, monkeypatch):
    server = _killed_client(tmp_path / "ep", trained_model)
    monkeypatch.setenv("FAKE_PODMAN_REMOVAL", "gone")
    assert server.stop() == (
        f"its podman client, process {server.pid}, had already exited; "
        f"its container {server.container} is removed"
    )
    assert [call[2] for call in podman_calls(podman)] == ["run", "stop"]


def test_a_container_that_cannot_be_removed_is_one_line_of_the_note(
    podman, tmp_path, trained_model, monkeypatch
):
    server = _killed_client(tmp_path / "ep", trained_model)
    monkeypatch.setenv("FAKE_PODMAN_REMOVAL", "fail")
    note = server.stop()
    assert note == (
        f"its podman client, process {server.pid}, had already exited; "
        f"container {server.container} "
        "was not removed: podman stop exited with code 1: Error: cannot lock the container "
        "store | second line: permission denied"
    )


def test_an_engine_that_does_not_answer_is_given_up_on_in_time(
    podman, tmp_path, trained_model, monkeypatch
):
    from bigmart.local import endpoint_servers, engines

    server = _killed_client(tmp_path / "ep", trained_model)
    monkeypatch.setenv("FAKE_PODMAN_REMOVAL", "hang")
    monkeypatch.setattr(endpoint_servers, "DRAIN_SECONDS", 0.0)
    monkeypatch.setattr(engines, "ENGINE_COMMAND_SECONDS", 1.0)
    assert server.stop().endswith(
        f"container {server.container} may still run: podman stop did not finish within 1 s"
    )


def test_a_record_from_before_containers_were_named_is_read_and_stopped_as_before(tmp_path):
    old = {"port": 9, "pid": None, "engine": "podman", "model_dir": str(tmp_path / "model")}
    server = EndpointServer.recorded(old)
    assert server is not None and server.container is None
    assert server.stop() == ""
