"""Small pieces the subcommands share: the job store, job names, the bind address, the
engine option, a job's log on stdout, and OS errors as one line."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
import time
import uuid

from bigmart.aws.names import RequestError, check_name
from bigmart.local.engines import DEFAULT_IMAGE, ENGINES
from bigmart.local.jobs import JobStore, state_home


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


def bind_host(value: str) -> str:
    """argparse type of ``--host``: an IP address (or ``localhost``) to bind."""
    if value == "localhost":
        return "127.0.0.1"
    try:
        return str(ipaddress.ip_address(value.strip("[]")))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an IP address such as 127.0.0.1 (this machine only) or 0.0.0.0 "
            f"(every interface), got {value!r}"
        ) from None


def add_host_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        type=bind_host,
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; the server has "
        "no authentication, so another address lets anyone who reaches it use the model)",
    )


def warn_if_exposed(host: str, port: int | None) -> None:
    """Say loudly that a server on a non-loopback address answers the network."""
    if ipaddress.ip_address(host).is_loopback:
        return
    where = f"port {port}" if port else "its port"
    print(
        f"WARNING: --host {host}: the server answers anyone who can reach this machine on "
        f"{where}, with no authentication; use --host 127.0.0.1 unless that is intended.",
        file=sys.stderr,
        flush=True,
    )


def echo(line: str) -> None:
    """A running job's log line on stdout. A reader that goes away (``bigmart train | head``)
    must not end the job: stdout then goes to /dev/null and the job runs to its end, its
    whole log kept in its stream under ``<state>/logs/``."""
    try:
        print(line, flush=True)
    except BrokenPipeError:
        # Pointed at /dev/null, the lines still buffered and every later print go nowhere
        # instead of failing again (at the outcome, or at the interpreter's final flush).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def describe_os_error(error: OSError) -> str:
    """``path: reason`` (both paths for a rename), as far as the error knows them."""
    reason = error.strerror or str(error) or type(error).__name__
    if error.filename is None:
        return reason
    names = repr(os.fsdecode(error.filename))
    if error.filename2 is not None:
        names += f" -> {os.fsdecode(error.filename2)!r}"
    return f"{names}: {reason}"


def write_answer(body: bytes) -> None:
    """An endpoint's answer on stdout, ended by a newline if it lacks one (a JSON answer
    does), so that the shell prompt does not follow it on the same line."""
    sys.stdout.buffer.write(body if not body or body.endswith(b"\n") else body + b"\n")
    sys.stdout.flush()
