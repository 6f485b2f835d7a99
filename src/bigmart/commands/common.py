"""Small pieces the subcommands share: the job store and job names."""

from __future__ import annotations

import argparse
import time
import uuid

from bigmart.workflow.aws_names import RequestError, check_name
from bigmart.workflow.engines import DEFAULT_IMAGE, ENGINES
from bigmart.workflow.jobs import JobStore, state_home


def new_name(prefix: str) -> str:
    """A unique, sortable name in SageMaker's style."""
    return f"{prefix}-{time.strftime('%Y-%m-%d-%H-%M-%S')}-{uuid.uuid4().hex[:4]}"


def resource_name(value: str) -> str:
    """argparse type of ``--name``: SageMaker's job and endpoint name pattern.

    The name is also a folder name under the state folder and the job's output, so it is
    checked before anything touches the disk (``../x`` must never reach a path).
    """
    try:
        return check_name(value, "name")
    except RequestError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def positive_int(value: str) -> int:
    """argparse type for counts that must be at least 1 (workers, instances)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


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
