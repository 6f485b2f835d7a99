"""``bigmart serve``: the endpoint container's ``serve``, in the foreground, on a model file.

A missing or corrupt model exits 3 with one log line, as the image's ``serve`` does.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from bigmart.cli.common import add_host_option, positive_int, warn_if_exposed
from bigmart.contract import EXIT_NO_MODEL, Env


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    serve = commands.add_parser(
        "serve", help="serve a model in the foreground exactly as the endpoint container does"
    )
    serve.add_argument("--model", type=Path, required=True, help="model folder or model.tar.gz")
    serve.add_argument("--port", type=int, help="port (default: $SAGEMAKER_BIND_TO_PORT or 8080)")
    add_host_option(serve)
    serve.add_argument(
        "--workers", type=positive_int, help="worker processes (default: one per core)"
    )
    serve.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Unpack the model into a temporary ``/opt/ml/model`` and run ``serve`` on it."""
    from bigmart.container import serve
    from bigmart.container.paths import OptMl
    from bigmart.model.archive import opened_model
    from bigmart.model.artifact import ArtifactError, rewrite_model

    if args.port is not None:
        os.environ[Env.SAGEMAKER_BIND_TO_PORT] = str(args.port)
    # The image's ``serve`` binds 0.0.0.0 (SageMaker requires it); on a workstation the
    # server answers this machine only unless --host says otherwise.
    os.environ[Env.BIGMART_BIND_HOST] = args.host
    warn_if_exposed(args.host, args.port)
    if args.workers is not None:
        os.environ[Env.SAGEMAKER_MODEL_SERVER_WORKERS] = str(args.workers)
    serve.configure_logging()
    with tempfile.TemporaryDirectory(prefix="bigmart-serve-") as root:
        paths = OptMl(Path(root))
        try:
            with opened_model(args.model) as model_dir:
                rewrite_model(model_dir, paths.model)
        except ArtifactError as error:  # as the image's ``serve`` answers a bad /opt/ml/model
            serve.log.error("cannot load the model from %s: %s", args.model, error)
            return EXIT_NO_MODEL
        return serve.run(paths)
