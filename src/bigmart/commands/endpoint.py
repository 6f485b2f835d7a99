"""``bigmart endpoint create|invoke|delete|list``: local endpoints that outlive the command.

An endpoint is the real ``serve`` started in the background on a copy of the model under
``<state>/endpoints/<name>/``; its port and process are kept in the job store.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import sys
import time
from pathlib import Path

from bigmart.commands import UsageError, on_aws
from bigmart.commands.common import (
    add_engine_option,
    local_image,
    positive_int,
    resource_name,
    store,
)
from bigmart.workflow import storage
from bigmart.workflow.engines import EngineError, serve_command
from bigmart.workflow.jobs import JobRecord, state_home
from bigmart.workflow.model_server import (
    ModelServer,
    ServerError,
    free_port,
    materialize_model,
    ping,
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
    if existing is not None and existing.status in ("Creating", "InService"):
        raise UsageError(
            f"endpoint {args.name!r} already exists ({existing.status}); "
            f"delete it first: bigmart endpoint delete {args.name}"
        )
    if existing is not None and existing.kind != "endpoint":
        raise UsageError(
            f"the name {args.name!r} is taken by a {existing.kind} job; choose another"
        )
    jobs.create(
        args.name,
        "endpoint",
        {"model": args.model, "port": args.port},
        "Creating",
        replace=existing is not None,  # a deleted or failed endpoint's name is free again
    )
    folder = endpoint_dir(args.name)
    shutil.rmtree(folder, ignore_errors=True)
    environment = {}
    if args.workers:
        environment["SAGEMAKER_MODEL_SERVER_WORKERS"] = str(args.workers)
    try:
        materialize_model(args.model, folder / "model")
        port = args.port or free_port()
        server = ModelServer(
            folder,
            port=port,
            environment=environment,
            command=serve_command(
                args.engine, local_image(args), folder / "model", port, environment
            ),
            log_path=folder / "serve.log",
            detached=True,
        )
        server.start()
    except (ServerError, EngineError, storage.StorageError, ValueError, OSError) as error:
        jobs.update(args.name, status="Failed", failure_reason=str(error), ended=True)
        raise UsageError(f"endpoint {args.name!r} failed: {error}") from None
    assert server.process is not None
    jobs.update(
        args.name,
        status="InService",
        artifacts={
            "port": server.port,
            "pid": server.process.pid,
            "url": f"http://127.0.0.1:{server.port}/invocations",
            "log": str(server.log_path),
            "model_dir": str(folder / "model"),
        },
    )
    print(f"endpoint {args.name}: InService at http://127.0.0.1:{server.port}/invocations")
    return 0


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
    connection = http.client.HTTPConnection("127.0.0.1", record.artifacts["port"], timeout=70)
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
    pid = record.artifacts.get("pid")
    if pid and _is_our_server(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 35
        while _is_our_server(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _is_our_server(pid):
            os.kill(pid, signal.SIGKILL)
    jobs.update(args.name, status="Deleted", ended=True)
    print(f"endpoint {args.name}: Deleted")
    return 0


def run_list(args: argparse.Namespace) -> int:
    endpoints = store().list("endpoint")
    if not endpoints:
        print("no endpoints; create one: bigmart endpoint create --model M --name N")
        return 0
    print(f"{'NAME':30} {'STATUS':12} URL")
    for record in endpoints:
        status = record.status
        port = record.artifacts.get("port")
        if status == "InService" and not (port and ping(port)):
            status = "NotAnswering"
        print(f"{record.name:30} {status:12} {record.artifacts.get('url', '')}")
    return 0


def _is_our_server(pid: int) -> bool:
    """True if ``pid`` is alive and still a ``serve`` (PIDs are reused)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text(errors="replace")
    return b"serve" in command and ") Z " not in stat
