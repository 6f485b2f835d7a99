"""Running the real ``serve`` for a local endpoint or transform job.

The model (a folder, a ``model.tar.gz``, or either on S3) is verified and copied into an
``/opt/ml/model`` of the job's own, and ``serve`` is started on it with the environment
SageMaker would give the container, as a child process (engine ``process``) or in the image
(a container engine). Callers wait for ``/ping`` before using it.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from bigmart.contract import Env
from bigmart.errors import BigmartError
from bigmart.lifeline import tethered
from bigmart.local.engines import ServeContainer, exit_reason
from bigmart.local.model_location import opened_model_at
from bigmart.model.artifact import rewrite_model

PING_TIMEOUT_SECONDS = 60.0
#: Local servers answer this machine only unless told otherwise; the image binds 0.0.0.0.
LOOPBACK = "127.0.0.1"


class ServerError(BigmartError, RuntimeError):
    """``serve`` exited or never became healthy; the message carries its log's tail."""


def materialize_model(location: str, model_dir: Path) -> None:
    """Read and verify the model at ``location`` (a folder or archive, local or S3) and
    write it into ``model_dir`` (``rewrite_model``: checked, never a byte copy)."""
    with opened_model_at(location) as folder:
        rewrite_model(folder, model_dir)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_in_use(port: int, host: str = LOOPBACK) -> bool:
    """True if ``serve`` could not bind ``host:port`` (the probe binds the same address,
    reusing addresses in TIME_WAIT as gunicorn does)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError:
            return True
    return False


def connect_host(bind_host: str) -> str:
    """Where a client on this machine reaches a server bound to ``bind_host``."""
    if bind_host in ("0.0.0.0", ""):
        return LOOPBACK
    if bind_host.strip("[]") == "::":
        return "::1"
    return bind_host.strip("[]")


def url(host: str, port: int, path: str = "/invocations") -> str:
    return f"http://[{host}]:{port}{path}" if ":" in host else f"http://{host}:{port}{path}"


class ModelServer:
    """One ``serve`` process tree on a port of ``host`` (loopback unless told otherwise).

    The bind address reaches ``serve`` as ``BIGMART_BIND_HOST``; a container engine's
    command must pass it on (see ``engines.serve_command``). A ``detached`` server (an
    endpoint's) outlives the command that started it; any other ends with the process that
    started it, even one killed outright (``bigmart.lifeline``).
    """

    def __init__(
        self,
        opt_ml: Path,
        *,
        port: int | None = None,
        host: str = LOOPBACK,
        environment: Mapping[str, str] | None = None,
        log_path: Path | None = None,
        command: list[str] | None = None,
        detached: bool = False,
        container: ServeContainer | None = None,
    ) -> None:
        self.opt_ml = opt_ml
        self.port = port or free_port()
        self.host = host
        self.environment = dict(environment or {})
        self.log_path = log_path or opt_ml / "serve.log"
        self.command = command or [sys.executable, "-m", "bigmart.container.serve"]
        self.detached = detached
        self.process: subprocess.Popen[bytes] | None = None
        #: The container ``command`` names (``serve_command(container=...)``): ``stop`` removes
        #: it, since a client killed outright leaves it running; what stopped that, if any.
        self.container = container
        self.container_note = ""

    def start(self, timeout: float = PING_TIMEOUT_SECONDS) -> None:
        """Start ``serve`` and return once ``/ping`` answers 200."""
        self.spawn()
        self.wait_until_healthy(timeout)

    def spawn(self) -> None:
        """Start ``serve`` and return at once (``wait_until_healthy`` waits for it).

        A port already in use is refused first: otherwise another server's ``/ping`` would
        answer for this one while it fails to bind.
        """
        if port_in_use(self.port, self.host):
            raise ServerError(f"port {self.port} is already in use")
        environment = {
            **os.environ,
            Env.OPT_ML: str(self.opt_ml),
            Env.SAGEMAKER_BIND_TO_PORT: str(self.port),
            **self.environment,
            Env.BIGMART_BIND_HOST: self.host,
        }
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log: IO[bytes] = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        try:
            self.process = subprocess.Popen(
                self.command if self.detached else tethered(self.command),
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=self.detached,
            )
        finally:
            log.close()

    def wait_until_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ServerError(
                    exit_reason(self.command, "serve", self.process.returncode, self.log_lines())
                )
            if ping(self.port, self.connect_host):
                return
            time.sleep(0.02)
        self.stop()
        raise ServerError(f"serve did not answer /ping within {timeout:.0f} s: {self.log_tail()}")

    @property
    def connect_host(self) -> str:
        return connect_host(self.host)

    def execution_parameters(self) -> dict[str, Any]:
        """The server's ``/execution-parameters``, or {} if it offers none."""
        connection = http.client.HTTPConnection(self.connect_host, self.port, timeout=5)
        try:
            connection.request("GET", "/execution-parameters")
            response = connection.getresponse()
            body = response.read()
            return json.loads(body) if response.status == 200 else {}
        except (OSError, ValueError):
            return {}
        finally:
            connection.close()

    def worker_pids(self) -> list[int]:
        """PIDs of the server's worker processes (for tests and diagnostics)."""
        if self.process is None:
            return []
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except OSError:
            return []

    def stop(self, timeout: float = 35.0) -> int | None:
        """SIGTERM, wait for the drain, then SIGKILL if it overstays; then remove its
        container, if it has one, within what is left of the drain."""
        started = time.monotonic()
        try:
            if self.process is None or self.process.poll() is not None:
                return None if self.process is None else self.process.returncode
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                return self.process.wait()
        finally:
            if self.container is not None:
                left = max(0.0, timeout - (time.monotonic() - started))
                self.container_note = self.container.remove(left)

    def log_tail(self, lines: int = 5) -> str:
        return " | ".join(self.log_lines()[-lines:]) or "(empty log)"

    def log_lines(self) -> list[str]:
        """The server's log (``serve``'s and a container engine's output), [] if unreadable."""
        try:
            return self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return []


def ping(port: int, host: str = LOOPBACK, timeout: float = 2.0) -> bool:
    """True if ``/ping`` on ``host:port`` answers 200."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", "/ping")
        response = connection.getresponse()
        response.read()
        return response.status == 200
    except OSError:
        return False
    finally:
        connection.close()
