"""Where a local job's ``train`` or ``serve`` runs: a child process, or the product's image.

With a container engine (podman or docker) the job runs the way SageMaker's local mode
and SageMaker itself run it: ``ENGINE run IMAGE train`` with the job folder mounted at
``/opt/ml``, or ``ENGINE run IMAGE serve`` with the model mounted at ``/opt/ml/model``.
``BIGMART_ENGINE_FLAGS`` adds global flags the engine needs on a given machine (for
example podman's ``--storage-driver vfs --runtime runc`` where overlay or crun do not work).

A ``serve`` container gets a name of its own (``ServeContainer``): the engine's client is
only a process that watches it, so when the client is killed outright the container runs on,
holding its port, and only its name can stop it.
"""

from __future__ import annotations

import math
import os
import secrets
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bigmart.clipping import one_line
from bigmart.contract import DEFAULT_OPT_ML, Env
from bigmart.errors import UserError

ENGINES = ("process", "podman", "docker")
DEFAULT_IMAGE = "localhost/bigmart:latest"
#: Exit codes ``docker run`` and ``podman run`` keep for their own failures (125: the
#: engine itself failed, e.g. no daemon or an unknown image; 126/127: the command could not
#: be run or found in the image); any other code is the container's.
ENGINE_EXIT_CODES = (125, 126, 127)
#: How many of a process's last output lines a failure reason quotes.
TAIL_LINES = 3
#: How long an engine may take to answer ``stop`` (beyond its drain) or ``rm``.
ENGINE_COMMAND_SECONDS = 30.0
#: What docker and podman say of a container that does not exist (any more) or that the
#: engine is removing already (``run --rm``): for a removal, the outcome wanted.
GONE = ("no such container", "already been removed", "is already in progress")


class EngineError(UserError, RuntimeError):
    """The engine asked for is not installed: refused as given."""


#: ``REMOTE=LOCAL`` pairs, comma-separated: an image a request names (an ECR URI, say) and
#: the local image that runs in its place (``bigmart api --image-map`` sets it, so the
#: api's job workers inherit it).
IMAGE_MAP_VARIABLE = "BIGMART_IMAGE_MAP"


def image_map(text: str) -> dict[str, str]:
    """``REMOTE=LOCAL[,REMOTE=LOCAL...]`` as a mapping; a pair without ``=`` is an error."""
    mapping = {}
    for pair in filter(None, (item.strip() for item in text.split(","))):
        remote, sep, local = pair.partition("=")
        if not sep or not remote or not local:
            raise EngineError(f"image map {pair!r}: expected REMOTE=LOCAL")
        mapping[remote] = local
    return mapping


def local_image(image: str) -> str:
    """The image that runs for ``image``: its ``BIGMART_IMAGE_MAP`` entry, or itself."""
    return image_map(os.environ.get(IMAGE_MAP_VARIABLE, "")).get(image, image)


#: Global flags every engine command gets on this machine (see the module's docstring).
ENGINE_FLAGS_VARIABLE = "BIGMART_ENGINE_FLAGS"


def engine_flags() -> list[str]:
    """The machine's global engine flags, as ``BIGMART_ENGINE_FLAGS`` gives them."""
    return shlex.split(os.environ.get(ENGINE_FLAGS_VARIABLE, ""))


def engine_prefix(engine: str) -> list[str]:
    """The engine's executable and the machine's global flags."""
    if shutil.which(engine) is None:
        raise EngineError(f"--engine {engine}: {engine} is not installed (or not on PATH)")
    return [engine, *engine_flags()]


def train_command(engine: str, image: str, job_dir: Path) -> list[str] | None:
    """How to start ``train`` on a job folder; None means: this Python's module.

    The container gets no network, as a SageMaker training job with network isolation.
    """
    if engine == "process":
        return None
    return [
        *engine_prefix(engine),
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        f"{job_dir.resolve()}:{DEFAULT_OPT_ML}",
        "-e",
        "PYTHONUNBUFFERED=1",
        local_image(image),
        "train",
    ]


def serve_command(
    engine: str,
    image: str,
    model_dir: Path,
    port: int,
    environment: Mapping[str, str],
    host: str = "127.0.0.1",
    volumes: Sequence[tuple[Path, str]] = (),
    inherited: Sequence[str] = (),
    *,
    container: ServeContainer | None = None,
) -> list[str]:
    """How to start ``serve`` on a model folder, listening on ``host:port`` of this machine.

    The container shares the host's network (as SageMaker's local mode does), so the
    address ``serve`` binds inside it, ``BIGMART_BIND_HOST``, is the machine's: loopback
    unless told otherwise (the image alone binds 0.0.0.0, as SageMaker requires).
    ``volumes`` are more (host folder, container path) mounts, writable (data capture);
    ``inherited`` variables pass from this environment by name, their values unwritten;
    ``container`` names the container (``ServeContainer``, so that it can be removed).
    """
    if engine == "process":
        return [sys.executable, "-m", "bigmart.container.serve"]
    variables = [
        f"{Env.SAGEMAKER_BIND_TO_PORT}={port}",
        *(f"{k}={v}" for k, v in environment.items()),
        f"{Env.BIGMART_BIND_HOST}={host}",
    ]
    return [
        *engine_prefix(engine),
        "run",
        "--rm",
        "--network",
        "host",
        *(("--name", container.name) if container else ()),
        *(item for variable in variables for item in ("-e", variable)),
        *(item for name in inherited for item in ("-e", name)),
        "-v",
        f"{model_dir.resolve()}:{DEFAULT_OPT_ML}/model:ro",
        *(item for folder, path in volumes for item in ("-v", f"{folder.resolve()}:{path}")),
        local_image(image),
        "serve",
    ]


@dataclass(frozen=True)
class ServeContainer:
    """A ``serve`` container by its name: what stops it when its engine's client cannot (a
    client killed outright leaves the container running, answering on its port)."""

    engine: str
    name: str

    @classmethod
    def named_for(cls, engine: str, port: int) -> ServeContainer | None:
        """A container name no other ``serve`` has, for port ``port``; None for ``process``."""
        if engine == "process":
            return None
        return cls(engine, f"bigmart-serve-{port}-{secrets.token_hex(4)}")

    def remove(self, drain_seconds: float) -> str:
        """Stop the container (SIGTERM, SIGKILL after ``drain_seconds``) and remove it.
        "" once it is gone, or was already; else one line saying why it may still run.
        Every engine command is bounded in time."""
        try:
            prefix = engine_prefix(self.engine)
        except EngineError as error:
            return f"container {self.name} was not removed: {error}"
        seconds = max(0, math.ceil(drain_seconds))
        for action, limit in (
            (["stop", "--time", str(seconds)], seconds + ENGINE_COMMAND_SECONDS),
            (["rm", "-f"], ENGINE_COMMAND_SECONDS),
        ):
            try:
                done = subprocess.run(
                    [*prefix, *action, self.name],
                    capture_output=True,
                    text=True,
                    errors="replace",
                    stdin=subprocess.DEVNULL,
                    timeout=limit,
                )
            except subprocess.TimeoutExpired:
                return (
                    f"container {self.name} may still run: {self.engine} {action[0]} did not "
                    f"finish within {limit:.0f} s"
                )
            except OSError as error:
                return one_line(f"container {self.name} was not removed: {error}")
            if done.returncode != 0:
                said = last_lines((done.stderr + done.stdout).splitlines())
                if any(text in said.lower() for text in GONE):
                    return ""
                return one_line(
                    f"container {self.name} was not removed: {self.engine} {action[0]} "
                    f"exited with code {done.returncode}: {said}"
                )
        return ""


def exit_reason(argv: Sequence[str], program: str, code: int, output: Sequence[str]) -> str:
    """Why ``program`` (``train``, ``serve``), started as ``argv``, ended with ``code``: one
    line quoting the last lines it wrote. When a container engine could not run the
    container at all, the engine is named: its own error is the cause, not the program."""
    engine = Path(argv[0]).name if argv else ""
    if engine in ENGINES and engine != "process" and code in ENGINE_EXIT_CODES:
        head = f"{engine} could not run {program} (exit {code})"
    else:
        head = f"{program} exited with code {code}"
    tail = last_lines(output)
    return one_line(f"{head}: {tail}" if tail else head)


def last_lines(output: Sequence[str], count: int = TAIL_LINES) -> str:
    """The last ``count`` lines with something to say, joined with `` | ``; docker's
    "See 'docker run --help'." pointer says nothing about the cause and is left out."""
    lines = [
        line.strip()
        for line in output
        if line.strip() and not (line.startswith("See '") and line.rstrip().endswith("--help'."))
    ]
    return " | ".join(lines[-count:])
