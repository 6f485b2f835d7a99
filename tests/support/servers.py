"""A real ``serve`` process on a real socket, for the end-to-end tests.

The process itself is the product's ``ModelServer`` (start, wait for ``/ping``, stop);
this adds only what a test needs on top: an HTTP client and the whole log.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bigmart.local.server_process import ModelServer

#: One Big Mart row without the target, as a client sends it.
FEATURE_LINE = (
    "FDW58,20.75,Low Fat,0.007564836,Snack Foods,107.8622,OUT049,1999,Medium,"
    "Tier 1,Supermarket Type1"
)
#: The installed ``serve`` console script, the word SageMaker starts the image with.
SERVE = str(Path(sys.executable).with_name("serve"))


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


class RunningServer(ModelServer):
    """A ``ModelServer`` running the installed ``serve``, with a client to talk to it."""

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> Response:
        connection = http.client.HTTPConnection(self.connect_host, self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            answer = connection.getresponse()
            return Response(
                answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
            )
        finally:
            connection.close()

    def invoke(
        self,
        body: bytes,
        content_type: str | None = "text/csv",
        accept: str | None = None,
        **extra: str,
    ) -> Response:
        headers = dict(extra)
        if content_type is not None:
            headers["Content-Type"] = content_type
        if accept is not None:
            headers["Accept"] = accept
        return self.request("POST", "/invocations", body, headers)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def serve_process(
    opt_ml: Path,
    log_path: Path,
    *,
    workers: int = 2,
    extra_env: Mapping[str, str] | None = None,
) -> RunningServer:
    """A server on a free port of 127.0.0.1, not started yet."""
    environment = {"SAGEMAKER_MODEL_SERVER_WORKERS": str(workers), **(extra_env or {})}
    return RunningServer(opt_ml, environment=environment, log_path=log_path, command=[SERVE])


def start_server(opt_ml: Path, log_path: Path, **options: Any) -> RunningServer:
    """A started server (``serve_process``'s options): ``/ping`` has answered 200."""
    server = serve_process(opt_ml, log_path, **options)
    server.start()
    return server


def listening_addresses(port: int) -> set[str]:
    """The addresses sockets listen on at ``port``, as the kernel reports them."""
    found = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            address, hex_port = fields[1].split(":")
            if fields[3] != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)  # each 32-bit word in the host's byte order
            words = [raw[i : i + 4] for i in range(0, len(raw), 4)]
            if sys.byteorder == "little":
                words = [word[::-1] for word in words]
            found.add(socket.inet_ntop(family, b"".join(words)))
    return found


def read_until_closed(connection: socket.socket, timeout: float = 15) -> bytes:
    """Everything the server sends until it closes; fails if it keeps the connection."""
    connection.settimeout(timeout)
    answer = b""
    while True:
        try:
            chunk = connection.recv(65536)
        except ConnectionResetError:
            return answer
        if not chunk:
            return answer
        answer += chunk


def send_ignoring_refusal(connection: socket.socket, data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        connection.sendall(data)  # the server may stop reading: that is the point
