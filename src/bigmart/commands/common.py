"""Small pieces the subcommands share: the job store and job names."""

from __future__ import annotations

import argparse
import time
import uuid

from bigmart.workflow.engines import DEFAULT_IMAGE, ENGINES
from bigmart.workflow.jobs import JobStore, state_home


def new_name(prefix: str) -> str:
    """A unique, sortable name in SageMaker's style."""
    return f"{prefix}-{time.strftime('%Y-%m-%d-%H-%M-%S')}-{uuid.uuid4().hex[:4]}"


def store() -> JobStore:
    return JobStore(state_home())


def add_engine_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="process",
        help="run train/serve as a child process (default: no container engine needed) or "
        f"in the product's image (--image, default {DEFAULT_IMAGE}) with podman or docker, "
        "as SageMaker's local mode does",
    )


def local_image(args: argparse.Namespace) -> str:
    """The image a local container engine runs."""
    return args.image or DEFAULT_IMAGE
