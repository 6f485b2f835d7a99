"""The ``serve`` behind a local endpoint, once the command that started it has exited.

``start_server`` starts it detached (a ``ModelServer`` in a session of its own), so it
outlives ``bigmart endpoint create``; what is needed to find it again is kept in the
endpoint's record. A later command reads it back as an ``EndpointServer``: to send it
requests, to tell whether it answers, and to stop it, but only if the recorded process is
still that server (a PID is reused by the system; a PID with its start time is not). With a
container engine the process is the engine's client, and the container, which may outlive
it, is also stopped by its name.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bigmart.local.data_capture import CaptureSetup
from bigmart.local.engines import DEFAULT_IMAGE, ServeContainer, serve_command
from bigmart.local.processes import ProcessIdentity
from bigmart.local.server_process import (
    LOOPBACK,
    PING_TIMEOUT_SECONDS,
    ModelServer,
    free_port,
    materialize_model,
    ping,
    url,
)

#: InvokeEndpoint waits up to 60 s for the model on SageMaker; a little more for the socket.
INVOKE_TIMEOUT_SECONDS = 70.0
#: How long ``delete`` lets the server drain requests in flight before it kills the rest.
DRAIN_SECONDS = 35.0
#: How long a SIGKILLed process may take to be gone (the kernel frees it asynchronously).
KILL_SECONDS = 5.0
#: InvokeEndpoint's CustomAttributes, as the runtime and the container spell the header.
CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"


class ModelError(Exception):
    """The model answered an invocation with an error status (SageMaker runtime's
    ModelError): its status and body, passed on to the caller as they are."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.body = body
        super().__init__(f"HTTP {status}: {body.decode('utf-8', 'replace')}")


@dataclass(frozen=True)
class EndpointServer:
    """Where a local endpoint's ``serve`` listens and which process it is (local only:
    SageMaker has no such thing). Kept in the record's artifacts under these names."""

    port: int
    host: str = LOOPBACK
    url: str = ""
    log: str = ""
    pid: int | None = None
    #: The process's start time; records from before it was kept have none.
    start_time: int | None = None
    model_dir: str | None = None
    #: The address ``serve`` was told to bind (``host`` is where a client reaches it), so
    #: an update starts its successor on the same one; older records have none.
    bind_host: str | None = None
    #: The engine it runs with, so a server started again runs as it did; older records
    #: have none.
    engine: str | None = None
    #: The name of its container (engines other than ``process``), which outlives a client
    #: killed outright; older records have none.
    container: str | None = None

    @classmethod
    def started(cls, server: ModelServer, model_dir: Path, engine: str) -> EndpointServer:
        """The server just started, as it will be recorded."""
        assert server.process is not None
        identity = ProcessIdentity.of(server.process.pid)
        return cls(
            port=server.port,
            host=server.connect_host,
            url=url(server.connect_host, server.port),
            log=str(server.log_path),
            pid=server.process.pid,
            start_time=identity.start_time if identity else None,
            model_dir=str(model_dir),
            bind_host=server.host,
            engine=engine,
            container=server.container.name if server.container else None,
        )

    @classmethod
    def recorded(cls, artifacts: Mapping[str, Any]) -> EndpointServer | None:
        """The server an endpoint's record names, or None if it never had one."""
        port = artifacts.get("port")
        if not isinstance(port, int):
            return None
        known = {key: artifacts[key] for key in cls.__dataclass_fields__ if key in artifacts}
        return cls(**known)

    def artifacts(self) -> dict[str, Any]:
        return asdict(self)

    def answers(self) -> bool:
        """True if the recorded server runs and ``/ping`` answers 200. Its master is what
        counts: workers that outlived a master killed outright may still answer for a while,
        but nothing would replace or stop them (records without a PID: ``/ping`` alone)."""
        if self._master() is False:
            return False
        return ping(self.port, self.host)

    def _master(self) -> bool | None:
        """True while the recorded master runs, False once it has exited; None when the
        record cannot tell (no PID or no start time kept) or the PID is a container
        engine's client (the container may outlive it: ``/ping`` alone tells then)."""
        if not isinstance(self.pid, int) or not isinstance(self.start_time, int):
            return None
        if self.engine not in (None, "process"):
            return None
        return ProcessIdentity(self.pid, self.start_time).is_alive()

    def invoke(
        self, body: bytes, content_type: str, accept: str, custom_attributes: str | None = None
    ) -> tuple[bytes, str, str | None]:
        """POST ``/invocations``: the answer's body, content type and custom attributes (the
        runtime passes them both ways). A model error raises ``ModelError``; no answer at
        all raises ``OSError``."""
        connection = http.client.HTTPConnection(
            self.host, self.port, timeout=INVOKE_TIMEOUT_SECONDS
        )
        headers = {"Content-Type": content_type, "Accept": accept}
        if custom_attributes is not None:
            headers[CUSTOM_ATTRIBUTES] = custom_attributes
        try:
            connection.request("POST", "/invocations", body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        finally:
            connection.close()
        if response.status != 200:
            raise ModelError(response.status, payload)
        return (
            payload,
            response.getheader("Content-Type", accept),
            response.getheader(CUSTOM_ATTRIBUTES),
        )

    def stop(self) -> str:
        """Stop the server if, and only if, the recorded process is still it, then its
        container by name (whether or not its client still ran); return what happened when
        that is not simply "stopped" (for the user), else "".

        Records from before start times were kept are matched by the environment ``serve``
        was started with (this endpoint's folder and port), which an unrelated process does
        not have; a process that cannot be verified is left alone.
        """
        started = time.monotonic()
        note = self._stop_process()
        if self.container and self.engine not in (None, "process"):
            # A client that drained already used up the drain; a dead one used none of it.
            left = DRAIN_SECONDS - (time.monotonic() - started)
            removal = ServeContainer(self.engine, self.container).remove(max(0.0, left))
            if note and not removal:  # the client was gone: say the server is gone too
                removal = f"its container {self.container} is removed"
            note = "; ".join(part for part in (note, removal) if part)
        return note

    def _stop_process(self) -> str:
        """The recorded process's part of ``stop``."""
        if not isinstance(self.pid, int):
            return ""
        process = ProcessIdentity.of(self.pid)
        if process is None:
            left = self._stop_leftovers()
            who = "its server" if self.engine in (None, "process") else f"its {self.engine} client"
            return f"{who}, process {self.pid}, had already exited" + (
                f"; {left} worker(s) it left running were stopped" if left else ""
            )
        if isinstance(self.start_time, int):
            if process.start_time != self.start_time:
                return (
                    f"its server had exited; process {self.pid} is now another program, left alone"
                )
        elif not self._started_for(self.pid):
            return (
                f"process {self.pid} could not be verified as its server, so it was left alone; "
                f"if it is, stop it with: kill {self.pid}"
            )
        _terminate(process)
        return ""

    def _stop_leftovers(self) -> int:
        """Kill what is left of the exited master's process group (workers that outlived
        it); return how many. A member is killed only if it was started as this endpoint's
        server, so a stranger in a group of the same number is left alone."""
        if not isinstance(self.pid, int) or not isinstance(self.start_time, int):
            return 0
        members = ProcessIdentity(self.pid, self.start_time).group_members()
        leftovers = [ProcessIdentity.of(pid) for pid in members if self._started_for(pid)]
        alive = [process for process in leftovers if process is not None]
        for process in alive:
            _signal(process.pid, signal.SIGKILL)
        deadline = time.monotonic() + KILL_SECONDS  # gone before the record says Deleted
        while any(process.is_alive() for process in alive) and time.monotonic() < deadline:
            time.sleep(0.01)
        return len(alive)

    def _started_for(self, pid: int) -> bool:
        """True if process ``pid`` was started as this endpoint's server."""
        try:
            variables = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            return False
        folder = Path(self.model_dir or "/nonexistent/model").parent
        return (
            f"OPT_ML={folder}".encode() in variables
            and f"SAGEMAKER_BIND_TO_PORT={self.port}".encode() in variables
        )


def start_server(
    folder: Path,
    container: Mapping[str, Any],
    *,
    engine: str,
    port: int | None = None,
    host: str = LOOPBACK,
    spawned: Callable[[EndpointServer], None] | None = None,
    capture: CaptureSetup | None = None,
) -> EndpointServer:
    """Copy the container's model into ``folder``, start ``serve`` on it and wait for
    ``/ping``; whatever stops that stops the server already started. ``spawned`` is told
    the server as soon as its process exists, before it answers, so that a record can name
    it even if this process is killed outright while it waits. ``capture`` is how its
    ``serve`` records requests (``data_capture``; none by default)."""
    shutil.rmtree(folder, ignore_errors=True)
    model_dir = folder / "model"
    materialize_model(container["ModelDataUrl"], model_dir)
    environment = {str(k): str(v) for k, v in (container.get("Environment") or {}).items()}
    capture = capture or CaptureSetup()
    environment.update(capture.environment)
    image = container.get("Image") or DEFAULT_IMAGE
    port = port or free_port()
    named = ServeContainer.named_for(engine, port)
    command = serve_command(
        engine,
        image,
        model_dir,
        port,
        environment,
        host,
        volumes=capture.volumes,
        inherited=capture.inherited,
        container=named,
    )
    server = ModelServer(
        folder,
        port=port,
        host=host,
        environment=environment,
        command=command,
        log_path=folder / "serve.log",
        detached=True,
        container=named,
    )
    try:
        server.spawn()
        if spawned is not None:
            spawned(EndpointServer.started(server, model_dir, engine))
        server.wait_until_healthy(PING_TIMEOUT_SECONDS)
        return EndpointServer.started(server, model_dir, engine)
    except BaseException:
        server.stop()
        raise


def _terminate(server: ProcessIdentity, drain_seconds: float = DRAIN_SECONDS) -> None:
    """SIGTERM the server (it drains requests in flight), then SIGKILL what remains of its
    process group (the master and its workers) after the drain. Not ``ModelServer.stop``:
    this process is not the server's parent, so it has only the PID to signal."""
    _signal(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + drain_seconds
    while server.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if server.is_alive():
        _signal(server.pid, signal.SIGKILL)
    for member in server.group_members():
        _signal(member, signal.SIGKILL)


def _signal(pid: int, number: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, number)
