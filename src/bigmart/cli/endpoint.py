"""``bigmart endpoint create|invoke|delete|list``: local endpoints that outlive the command.

``create`` sends CreateModel, CreateEndpointConfig and CreateEndpoint, all named after the
endpoint as the SageMaker SDK's ``deploy`` does, to the local backend (``--instance-type
local``) or to SageMaker (``ml.*``, see ``remote``); the others send the matching calls.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from bigmart.cli import UsageError
from bigmart.cli import remote as on_aws
from bigmart.cli.common import (
    add_engine_option,
    add_host_option,
    local_image,
    positive_int,
    resource_name,
    store,
    warn_if_exposed,
    write_answer,
)
from bigmart.contract import EndpointStatus
from bigmart.local.endpoints import LIVE, WORKERS_VARIABLE, ModelError
from bigmart.local.jobs import ENDPOINT
from bigmart.local.lifecycle import RequestRefused, Terminated
from bigmart.local.requests import (
    data_capture,
    endpoint_config_request,
    model_request,
    production_variant,
)
from bigmart.local.sagemaker import LocalSageMaker
from bigmart.local.server_process import ServerError


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
    create.add_argument(
        "--capture-s3-uri",
        help="data capture destination: s3://bucket/prefix, or a folder for a local endpoint "
        "(SageMaker's layout and format: <URI>/<name>/AllTraffic/yyyy/mm/dd/hh/*.jsonl)",
    )
    create.add_argument(
        "--capture-percent",
        type=_percentage,
        default=100,
        help="percentage of requests captured (default 100)",
    )
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


def backend(engine: str = "process") -> LocalSageMaker:
    return LocalSageMaker(store(), engine=engine)


def run_create(args: argparse.Namespace) -> int:
    if on_aws.is_remote(args):
        return on_aws.create_endpoint(args)
    local = backend(args.engine)
    name = args.name
    _refuse_if_taken(local, name)
    warn_if_exposed(args.host, args.port)
    model = model_request(name, local_image(args), args.model)
    if args.workers:
        model["PrimaryContainer"]["Environment"] = {WORKERS_VARIABLE: str(args.workers)}
    capture = None
    if args.capture_s3_uri:
        capture = data_capture(_location(args.capture_s3_uri), args.capture_percent)
    variant = production_variant(name, count=args.instance_count)
    config = endpoint_config_request(name, variant, capture)
    try:
        _forget_model_and_config(local, name)
        local.create_model(model)
        local.create_endpoint_config(config)
        local.create_endpoint(
            {"EndpointName": name, "EndpointConfigName": name}, port=args.port, host=args.host
        )
    except RequestRefused as error:
        raise UsageError(str(error)) from None
    except KeyboardInterrupt:
        print(f"endpoint {name}: interrupted; marked Failed", file=sys.stderr)
        raise  # the command exits 130 as for any Ctrl-C
    except Terminated as error:
        print(f"endpoint {name}: {error}; marked Failed", file=sys.stderr)
        raise SystemExit(128 + error.signum) from None
    described = local.describe_endpoint(name)
    server = local.endpoint_server(name)
    if described["EndpointStatus"] != EndpointStatus.IN_SERVICE or server is None:
        raise UsageError(f"endpoint {name!r} failed: {described.get('FailureReason')}")
    print(f"endpoint {name}: InService at {server.url}")
    return 0


def _percentage(value: str) -> int:
    """argparse type of ``--capture-percent``: SageMaker's InitialSamplingPercentage."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if not 0 <= number <= 100:
        raise argparse.ArgumentTypeError(f"expected 0 to 100, got {number}")
    return number


def _location(value: str) -> str:
    """An ``s3://`` URI as it is; a folder as an absolute path (``serve`` runs elsewhere)."""
    return value if value.startswith("s3://") else str(Path(value).expanduser().resolve())


def _refuse_if_taken(local: LocalSageMaker, name: str) -> None:
    """A live endpoint of that name: refused before anything is replaced (a job of that
    name is no obstacle: names are unique per kind, as on SageMaker)."""
    existing = local.store.get(name, "endpoint")
    if existing is None:
        return
    if existing.status in LIVE:
        raise UsageError(
            f"endpoint {name!r} already exists ({existing.status}); "
            f"delete it first: bigmart endpoint delete {name}"
        )


def _forget_model_and_config(local: LocalSageMaker, name: str) -> None:
    """The model and config an earlier endpoint of this (now free) name left behind."""
    for forget in (local.delete_endpoint_config, local.delete_model):
        with contextlib.suppress(RequestRefused):  # there was none
            forget(name)


def _on_sagemaker(args: argparse.Namespace) -> bool:
    if args.on_sagemaker:
        return True
    record = store().get(args.name, ENDPOINT)  # a training job may share the name
    return record is not None and record.parameters.get("on") == "sagemaker"


def _status(local: LocalSageMaker, name: str) -> str:
    try:
        return str(local.describe_endpoint(name)["EndpointStatus"])
    except RequestRefused:
        raise UsageError(f"no endpoint named {name!r}; see: bigmart endpoint list") from None


def run_invoke(args: argparse.Namespace) -> int:
    try:
        body = sys.stdin.buffer.read() if str(args.body) == "-" else args.body.read_bytes()
    except OSError as error:
        raise UsageError(f"--body {args.body}: {error.strerror or error}") from None
    if _on_sagemaker(args):
        return on_aws.invoke_endpoint(args, body)
    local = backend()
    status = _status(local, args.name)
    if status != EndpointStatus.IN_SERVICE:
        raise UsageError(f"endpoint {args.name!r} is {status}")
    try:
        answer = local.invoke_endpoint(args.name, body, args.content_type, args.accept)
    except ModelError as error:
        print(error, file=sys.stderr)
        return 1
    except (RequestRefused, ServerError) as error:
        raise UsageError(str(error)) from None
    write_answer(answer["Body"])
    return 0


def run_delete(args: argparse.Namespace) -> int:
    if _on_sagemaker(args):
        return on_aws.delete_endpoint(args)
    local = backend()
    _status(local, args.name)
    try:
        note = local.delete_local_endpoint(args.name)
    except RequestRefused as error:  # being created or updated, as SageMaker refuses it
        raise UsageError(f"{error} Delete it once it is InService or Failed.") from None
    _forget_model_and_config(local, args.name)
    print(f"endpoint {args.name}: Deleted{f' ({note})' if note else ''}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    local = backend()
    endpoints = local.list_endpoints(SortOrder="Ascending")["Endpoints"]
    if not endpoints:
        print("no endpoints; create one: bigmart endpoint create --model M --name N")
        return 0
    print(f"{'NAME':30} {'STATUS':12} URL")
    for endpoint in endpoints:
        name, status = endpoint["EndpointName"], endpoint["EndpointStatus"]
        server = local.endpoint_server(name)
        if status == EndpointStatus.IN_SERVICE and not (server and server.answers()):
            status = "NotAnswering"
        print(f"{name:30} {status:12} {server.url if server else ''}")
    return 0
