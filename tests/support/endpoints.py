"""Local endpoints for tests: a model and config of one name, a server killed outright, a
server whose start is held back until the test lets it go, and the process an update runs in."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bigmart.local.endpoint_servers import EndpointServer
from bigmart.local.jobs import JobStore
from bigmart.local.processes import ProcessIdentity
from bigmart.local.requests import endpoint_config_request, model_request, production_variant
from bigmart.local.sagemaker import LocalSageMaker

#: One Big Mart row without the target, as a client sends it.
LINE = (
    b"FDW58,20.75,Low Fat,0.007564836,Snack Foods,107.8622,OUT049,1999,Medium,Tier 1,"
    b"Supermarket Type1\n"
)
#: Imported by every Python started with the gate's folder on its path (``site`` does so):
#: it waits for the file ``open`` beside it.
GATE_SCRIPT = """\
import pathlib, time
_open = pathlib.Path(__file__).with_name("open")
while not _open.exists():
    time.sleep(0.05)
"""


def deployable(
    backend: LocalSageMaker,
    name: str,
    model: Path | str,
    environment: Mapping[str, str] | None = None,
) -> None:
    """A model and an endpoint config, both called ``name``: one worker serving ``model``."""
    request = model_request(name, "img:1", str(model))
    request["PrimaryContainer"]["Environment"] = {
        "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
        **(environment or {}),
    }
    backend.create_model(request)
    backend.create_endpoint_config(endpoint_config_request(name, production_variant(name)))


class Gate:
    """Holds back every ``serve`` started with ``environment`` until ``open``: a model whose
    server takes as long to start as the test needs (``sitecustomize`` on PYTHONPATH)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "sitecustomize.py").write_text(GATE_SCRIPT)
        self.folder = folder
        self.environment = {"PYTHONPATH": str(folder)}

    def open(self) -> None:
        (self.folder / "open").touch()


def kill_server(server: EndpointServer) -> None:
    """SIGKILL the server's process group (its master and workers), as a crash or the OOM
    killer ends it, and wait until it is gone."""
    assert server.pid is not None
    os.killpg(server.pid, signal.SIGKILL)
    until(lambda: ProcessIdentity.of(server.pid) is None, f"server {server.pid} to die")
    until(lambda: not server.answers(), f"port {server.port} to close")


def until(condition: Callable[[], Any], what: str, seconds: float = 120) -> Any:
    """Wait for ``condition`` to be true and return it (a wait, not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"waited {seconds:.0f} s for {what}")


def standby(home: Path, name: str) -> EndpointServer | None:
    """The server an update of ``name`` keeps beside the serving one, once its process runs."""
    record = JobStore(home).get(name)
    other = (record.artifacts.get("standby") or {}).get("server") if record else None
    return EndpointServer.recorded(other) if other else None


def owner_pid(home: Path, name: str) -> int:
    """The PID of the process the record of ``name`` names as its owner."""
    with sqlite3.connect(home / "jobs.db") as connection:
        (owner,) = connection.execute("SELECT owner FROM jobs WHERE name = ?", (name,)).fetchone()
    connection.close()
    return int(json.loads(owner)["pid"])


def start_update(home: Path, endpoint: str, config: str) -> subprocess.Popen[bytes]:
    """UpdateEndpoint run by the local backend in a process of its own (to be killed)."""
    code = (
        "import sys; from pathlib import Path; from bigmart.local.jobs import JobStore; "
        "from bigmart.local.sagemaker import LocalSageMaker; "
        "LocalSageMaker(JobStore(Path(sys.argv[1]))).update_endpoint("
        "{'EndpointName': sys.argv[2], 'EndpointConfigName': sys.argv[3]})"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, str(home), endpoint, config],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
