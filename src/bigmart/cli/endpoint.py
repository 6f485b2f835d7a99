"""``bigmart endpoint create|invoke|delete|list``: local endpoints that outlive the command.

An endpoint is the real ``serve`` started in the background on a copy of the model under
``<state>/endpoints/<name>/``; its port and process are kept in the job store.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from traceback import format_exception
from types import TracebackType
from typing import Any

from bigmart.cli import UsageError
from bigmart.cli import remote as on_aws
from bigmart.cli.common import (
    Terminated,
    add_engine_option,
    add_host_option,
    local_image,
    positive_int,
    resource_name,
    store,
    termination_raises,
    warn_if_exposed,
)
from bigmart.local import storage
from bigmart.local.engines import EngineError, serve_command
from bigmart.local.jobs import JobRecord, JobStore, state_home
from bigmart.local.processes import ProcessIdentity
from bigmart.local.server_process import (
    LOOPBACK,
    ModelServer,
    ServerError,
    free_port,
    materialize_model,
    ping,
    url,
)


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    endpoint = commands.add_parser("endpoint", help="local real-time endpoints")
    actions = endpoint.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = actions.add_parser("create", help="start an endpoint; returns once /ping is 200")
    create.add_argument(
        "--model", required=True, help="model folder, model.tar.gz, or an s3:// model.tar.gz"
    )
    create.add_argument("--name", required=True, type=resource_name)
    create.add_argument("--port", type=int, help="port (default: a free one)")
    add_host_option(create)
    create.add_argument(
        "--workers", type=positive_int, help="worker processes (default: one per core)"
    )
    add_engine_option(create)
    on_aws.add_placement_options(create, wait=False)
    create.add_argument("--capture-s3-uri", help="SageMaker data capture destination")
    create.set_defaults(handler=run_create)

    invoke = actions.add_parser("invoke", help="send a request body to an endpoint")
    invoke.add_argument("name")
    invoke.add_argument("--body", type=Path, required=True, help="file to send ('-': stdin)")
    invoke.add_argument("--content-type", default="text/csv")
    invoke.add_argument("--accept", default="text/csv")
    delete = actions.add_parser("delete", help="stop an endpoint (drains requests in flight)")
    delete.add_argument("name")
    for parser in (invoke, delete):
        parser.add_argument(
            "--on-sagemaker",
            action="store_true",
            help="an endpoint on SageMaker not created by this machine",
        )
        parser.add_argument("--region", help="AWS region (default: boto3's configuration)")
    invoke.set_defaults(handler=run_invoke)
    delete.set_defaults(handler=run_delete)

    listing = actions.add_parser("list", help="endpoints and whether they answer")
    listing.set_defaults(handler=run_list)


def endpoint_dir(name: str) -> Path:
    return state_home() / "endpoints" / name


def run_create(args: argparse.Namespace) -> int:
    if on_aws.is_remote(args):
        return on_aws.create_endpoint(args)
    jobs = store()
    existing = jobs.get(args.name)
    if existing is not None and existing.status == "Creating" and _creator_is_gone(existing):
        jobs.update(
            args.name,
            status="Failed",
            failure_reason="the command creating it was killed before it finished",
            ended=True,
        )
        existing = jobs.get(args.name)
    if existing is not None and existing.status in ("Creating", "InService"):
        raise UsageError(
            f"endpoint {args.name!r} already exists ({existing.status}); "
            f"delete it first: bigmart endpoint delete {args.name}"
        )
    if existing is not None and existing.kind != "endpoint":
        raise UsageError(
            f"the name {args.name!r} is taken by a {existing.kind} job; choose another"
        )
    warn_if_exposed(args.host, args.port)
    parameters = {"model": args.model, "port": args.port, "host": args.host}
    folder = endpoint_dir(args.name)
    creation = EndpointCreation(jobs, args.name, folder, parameters, replace=existing is not None)
    with termination_raises(), creation:
        shutil.rmtree(folder, ignore_errors=True)
        environment = {}
        if args.workers:
            environment["SAGEMAKER_MODEL_SERVER_WORKERS"] = str(args.workers)
        materialize_model(args.model, folder / "model")
        port = args.port or free_port()
        creation.server = ModelServer(
            folder,
            port=port,
            host=args.host,
            environment=environment,
            command=serve_command(
                args.engine, local_image(args), folder / "model", port, environment, args.host
            ),
            log_path=folder / "serve.log",
            detached=True,
        )
        address = creation.start()
    print(f"endpoint {args.name}: InService at {address}")
    return 0


class EndpointCreation:
    """The one place an endpoint's record leaves ``Creating``: ``InService`` once ``/ping``
    answers, otherwise ``Failed`` with the reason, whatever ends the creation (a bad model,
    ``serve`` exiting, a port in use, Ctrl-C, SIGTERM, a bug); a server already started is
    stopped, and the name is free again."""

    #: Errors with a message a user can act on; anything else is a bug and says so.
    EXPECTED = (ServerError, EngineError, storage.StorageError, ValueError, OSError)

    def __init__(
        self,
        jobs: JobStore,
        name: str,
        folder: Path,
        parameters: dict[str, Any],
        *,
        replace: bool,
    ) -> None:
        self.jobs = jobs
        self.name = name
        self.folder = folder
        self.parameters = parameters
        self.replace = replace  # a deleted or failed endpoint's name is free again
        self.server: ModelServer | None = None

    def __enter__(self) -> EndpointCreation:
        """Record the endpoint ``Creating``, with who is creating it (if that command is
        killed outright, the next ``create`` of the name sees it is gone)."""
        creator = ProcessIdentity.of(os.getpid())
        self.jobs.create(
            self.name,
            "endpoint",
            {**self.parameters, "creator": vars(creator) if creator else None},
            "Creating",
            replace=self.replace,
        )
        return self

    def start(self) -> str:
        """Start the server; record it ``InService``; return its URL."""
        assert self.server is not None
        server = self.server
        server.start()
        assert server.process is not None
        identity = ProcessIdentity.of(server.process.pid)
        address = url(server.connect_host, server.port)
        self.jobs.update(
            self.name,
            status="InService",
            artifacts={
                "port": server.port,
                "host": server.connect_host,
                "pid": server.process.pid,
                # The PID alone is reused by the system; with its start time it is not.
                "start_time": identity.start_time if identity else None,
                "url": address,
                "log": str(server.log_path),
                "model_dir": str(self.folder / "model"),
            },
        )
        return address

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if error is None:
            return
        try:
            if self.server is not None:
                self.server.stop()
        finally:
            self.jobs.update(
                self.name, status="Failed", failure_reason=self._reason(error), ended=True
            )
        if isinstance(error, KeyboardInterrupt):
            print(f"endpoint {self.name}: interrupted; marked Failed", file=sys.stderr)
            return  # re-raised: the command exits 130 as for any Ctrl-C
        if isinstance(error, Terminated):
            print(f"endpoint {self.name}: {error}; marked Failed", file=sys.stderr)
            raise SystemExit(128 + error.signum) from None
        if isinstance(error, self.EXPECTED):
            raise UsageError(f"endpoint {self.name!r} failed: {error}") from None
        if isinstance(error, Exception):
            log = self.folder / "create-error.log"
            try:
                log.parent.mkdir(parents=True, exist_ok=True)
                log.write_text("".join(format_exception(kind, error, traceback)))
            except OSError:
                log = Path("(not written)")
            raise UsageError(
                f"endpoint {self.name!r} failed: {self._reason(error)} "
                f"(a bug in bigmart; the traceback is in {log})"
            ) from None

    @classmethod
    def _reason(cls, error: BaseException) -> str:
        if isinstance(error, KeyboardInterrupt):
            return "interrupted (Ctrl-C) while creating"
        if isinstance(error, Terminated):
            return f"{error} while creating"
        if isinstance(error, cls.EXPECTED):
            return str(error)
        return f"{type(error).__name__}: {error}"


def _creator_is_gone(record: JobRecord) -> bool:
    """True if the command that was creating the endpoint no longer runs (SIGKILL leaves
    no chance to record Failed). Records from before the creator was kept: not known."""
    creator = record.parameters.get("creator")
    if not isinstance(creator, dict):
        return False
    try:
        return not ProcessIdentity(int(creator["pid"]), int(creator["start_time"])).is_alive()
    except (KeyError, TypeError, ValueError):
        return False


def _live_endpoint(name: str) -> JobRecord:
    record = store().get(name)
    if record is None or record.kind != "endpoint":
        raise UsageError(f"no endpoint named {name!r}; see: bigmart endpoint list")
    if record.status != "InService":
        raise UsageError(f"endpoint {name!r} is {record.status}")
    return record


def _on_sagemaker(args: argparse.Namespace) -> bool:
    if args.on_sagemaker:
        return True
    record = store().get(args.name)
    return record is not None and record.parameters.get("on") == "sagemaker"


def run_invoke(args: argparse.Namespace) -> int:
    try:
        body = sys.stdin.buffer.read() if str(args.body) == "-" else args.body.read_bytes()
    except OSError as error:
        raise UsageError(f"--body {args.body}: {error.strerror or error}") from None
    if _on_sagemaker(args):
        return on_aws.invoke_endpoint(args, body)
    record = _live_endpoint(args.name)
    connection = http.client.HTTPConnection(
        record.artifacts.get("host", LOOPBACK), record.artifacts["port"], timeout=70
    )
    try:
        connection.request(
            "POST",
            "/invocations",
            body=body,
            headers={"Content-Type": args.content_type, "Accept": args.accept},
        )
        response = connection.getresponse()
        payload = response.read()
    except OSError as error:
        raise UsageError(
            f"endpoint {args.name!r} does not answer ({error}); "
            f"its log: {record.artifacts.get('log')}"
        ) from None
    finally:
        connection.close()
    if response.status != 200:
        print(f"HTTP {response.status}: {payload.decode('utf-8', 'replace')}", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(payload)
    sys.stdout.flush()
    return 0


def run_delete(args: argparse.Namespace) -> int:
    if _on_sagemaker(args):
        return on_aws.delete_endpoint(args)
    jobs = store()
    record = jobs.get(args.name)
    if record is None or record.kind != "endpoint":
        raise UsageError(f"no endpoint named {args.name!r}")
    outcome = _stop_server(record)
    jobs.update(args.name, status="Deleted", ended=True)
    print(f"endpoint {args.name}: Deleted{outcome}")
    return 0


def _stop_server(record: JobRecord) -> str:
    """Stop the endpoint's server if, and only if, the recorded process is still it.

    The PID alone is not enough (the system reuses it), so the process must also have the
    start time recorded at creation. Records from before start times were kept are matched
    by the environment ``serve`` was started with (this endpoint's folder and port), which
    an unrelated process does not have; a process that cannot be verified is left alone.
    Returns what happened, for the user.
    """
    pid = record.artifacts.get("pid")
    if not isinstance(pid, int):
        return ""
    start_time = record.artifacts.get("start_time")
    server = ProcessIdentity.of(pid)
    if server is None:
        return f" (its server, process {pid}, had already exited)"
    if isinstance(start_time, int):
        if server.start_time != start_time:
            return f" (its server had exited; process {pid} is now another program, left alone)"
    elif not _started_for(pid, record):
        return (
            f" (process {pid} could not be verified as its server, so it was left alone; "
            f"if it is, stop it with: kill {pid})"
        )
    _terminate(server)
    return ""


def _started_for(pid: int, record: JobRecord) -> bool:
    """True if process ``pid`` was started by ``endpoint create`` for this record."""
    try:
        variables = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    folder = Path(record.artifacts.get("model_dir", "/nonexistent")).parent
    return (
        f"OPT_ML={folder}".encode() in variables
        and f"SAGEMAKER_BIND_TO_PORT={record.artifacts.get('port')}".encode() in variables
    )


def _terminate(server: ProcessIdentity, drain_seconds: float = 35) -> None:
    """SIGTERM the server (it drains requests in flight), then SIGKILL what remains of its
    process group (the master and its workers) after the drain."""
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


def run_list(args: argparse.Namespace) -> int:
    endpoints = store().list("endpoint")
    if not endpoints:
        print("no endpoints; create one: bigmart endpoint create --model M --name N")
        return 0
    print(f"{'NAME':30} {'STATUS':12} URL")
    for record in endpoints:
        status = record.status
        port = record.artifacts.get("port")
        if status == "InService" and not (
            port and ping(port, record.artifacts.get("host", LOOPBACK))
        ):
            status = "NotAnswering"
        print(f"{record.name:30} {status:12} {record.artifacts.get('url', '')}")
    return 0
