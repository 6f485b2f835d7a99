"""``bigmart api``: SageMaker's API on this machine, for unmodified boto3 code.

Point a client at it with ``endpoint_url=`` or boto3's standard variables
(``AWS_ENDPOINT_URL_SAGEMAKER``, ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``, and
``AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`` for the jobs' logs); any credentials
are accepted. Jobs and endpoints are the local backend's, in the same job store as the
other commands, so ``bigmart jobs`` lists them too.
"""

from __future__ import annotations

import argparse
import os

from bigmart.api.arns import DEFAULT_ACCOUNT, account_id
from bigmart.api.capacity import DEFAULT_MAX_INSTANCES
from bigmart.cli.common import (
    add_engine_option,
    add_host_option,
    positive_int,
    store,
    warn_if_exposed,
)
from bigmart.local.engines import IMAGE_MAP_VARIABLE, image_map

DEFAULT_PORT = 8771


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    api = commands.add_parser(
        "api",
        help="serve SageMaker's API (control plane and runtime) here, for boto3 code",
        description="Serve SageMaker's control plane (training jobs, models, endpoint "
        "configs, endpoints, transform jobs) and runtime (InvokeEndpoint) on one port; jobs "
        "run on this machine.",
    )
    add_host_option(api)
    api.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})"
    )
    add_engine_option(api)
    api.add_argument(
        "--image-map",
        action="append",
        default=[],
        metavar="REMOTE=LOCAL",
        help="with --engine podman|docker, run the local image LOCAL where a request names "
        "REMOTE (e.g. an ECR URI); repeatable",
    )
    api.add_argument(
        "--account-id",
        type=account_id,
        default=DEFAULT_ACCOUNT,
        help=f"the account ARNs name (default {DEFAULT_ACCOUNT}); their region is the one "
        "the client signed for",
    )
    api.add_argument(
        "--max-instances",
        type=positive_int,
        default=DEFAULT_MAX_INSTANCES,
        help="instances running at once (InProgress jobs by InstanceCount, live endpoints by "
        "InitialInstanceCount); a Create over it is ResourceLimitExceeded (default: twice "
        f"the CPU count, {DEFAULT_MAX_INSTANCES} here)",
    )
    api.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from bigmart.api.app import sagemaker_api
    from bigmart.api.http import KEEPALIVE_SECONDS, guarded_protocol

    warn_if_exposed(args.host, args.port)
    if args.image_map:  # the job workers inherit it with the environment
        os.environ[IMAGE_MAP_VARIABLE] = ",".join(args.image_map)
        image_map(os.environ[IMAGE_MAP_VARIABLE])  # a malformed pair fails now, in one line
    app = sagemaker_api(
        store(), engine=args.engine, account=args.account_id, max_instances=args.max_instances
    )
    where = f"http://{'[' + args.host + ']' if ':' in args.host else args.host}:{args.port}"
    print(
        f"SageMaker API on {where} (engine: {args.engine}); point boto3 at it with:\n"
        f"  export AWS_ENDPOINT_URL_SAGEMAKER={where} AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME={where}"
        f" AWS_ENDPOINT_URL_CLOUDWATCH_LOGS={where}",
        flush=True,
    )
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        lifespan="on",
        timeout_keep_alive=KEEPALIVE_SECONDS,
        http=guarded_protocol(),
    )
    return 0
