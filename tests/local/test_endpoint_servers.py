"""local.endpoint_servers: a recorded server is judged by its master, and stopping it leaves
none of its processes running, even those its master left behind when killed outright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bigmart.local.endpoint_servers import EndpointServer
from bigmart.local.processes import ProcessIdentity
from bigmart.local.server_process import free_port, ping
from support.cli import process_gone

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
