"""Starting a real ``serve`` process on a real socket, for the end-to-end tests."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bigmart.local.server_process import free_port


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class RunningServer:
    """A ``serve`` process tree and a way to talk to it."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    environment: dict[str, str] = field(default_factory=dict)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> Response:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            answer = connection.getresponse()
            return Response(
                answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
            )
        finally:
            connection.close()

    def invoke(
        self,
        body: bytes,
        content_type: str | None = "text/csv",
        accept: str | None = None,
        **extra: str,
    ) -> Response:
        headers = dict(extra)
        if content_type is not None:
            headers["Content-Type"] = content_type
        if accept is not None:
            headers["Accept"] = accept
        return self.request("POST", "/invocations", body, headers)

    def workers(self) -> list[int]:
        """PIDs of the worker processes (children of the gunicorn master)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=35)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_server(
    opt_ml: Path,
    log_path: Path,
    *,
    workers: int = 2,
    extra_env: dict[str, str] | None = None,
    wait: bool = True,
) -> RunningServer:
    port = free_port()
    environment = {
        **os.environ,
        "OPT_ML": str(opt_ml),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers),
        "BIGMART_BIND_HOST": "127.0.0.1",  # a test server answers this machine only
        **(extra_env or {}),
    }
    serve = Path(sys.executable).with_name("serve")
    log = open(log_path, "wb")  # noqa: SIM115 - the child writes it for its whole life
    process = subprocess.Popen([str(serve)], env=environment, stdout=log, stderr=subprocess.STDOUT)
    server = RunningServer(process, port, log_path, environment)
    if wait:
        wait_for_ping(server)
    return server


def wait_for_ping(server: RunningServer, timeout: float = 20) -> float:
    """Seconds until ``/ping`` answered 200; fails if the process exits first."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if server.process.poll() is not None:
            raise AssertionError(f"serve exited with {server.process.returncode}:\n" + server.log())
        try:
            if server.request("GET", "/ping", timeout=1).status == 200:
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.02)
    raise AssertionError("serve did not answer /ping in time:\n" + server.log())
