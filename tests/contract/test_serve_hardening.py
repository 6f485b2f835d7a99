"""End-to-end: ``serve`` on a real socket against hostile clients, its bind address and
batch transform's header rows."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bigmart.local.server_process import PING_TIMEOUT_SECONDS, free_port
from bigmart.model.artifact import rewrite_model
from support.servers import (
    FEATURE_LINE,
    RunningServer,
    listening_addresses,
    read_until_closed,
    send_ignoring_refusal,
    start_server,
)


@pytest.fixture(scope="module")
def opt_ml(tmp_path_factory, trained_model: Path) -> Path:
    root = tmp_path_factory.mktemp("hardening_opt_ml")
    rewrite_model(trained_model, root / "model")
    return root


def test_bind_host_comes_from_bigmart_bind_host(opt_ml, tmp_path):
    server = start_server(
        opt_ml, tmp_path / "serve.log", workers=1, extra_env={"BIGMART_BIND_HOST": "127.0.0.1"}
    )
    try:
        assert listening_addresses(server.port) == {"127.0.0.1"}
        assert server.invoke(FEATURE_LINE.encode()).status == 200
    finally:
        assert server.stop() == 0


# -- hostile clients (issue 10, items 11 and 12) -------------------------------------------

SHORT_LIMITS = {
    "BIGMART_HEADER_TIMEOUT": "1",
    "BIGMART_BODY_TIMEOUT": "1",
    "BIGMART_KEEPALIVE_TIMEOUT": "3",
    "BIGMART_BODY_MIN_RATE_KB": "4",
}
HEAD = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"


@pytest.fixture(scope="module")
def guarded(opt_ml, tmp_path_factory):
    running = start_server(
        opt_ml, tmp_path_factory.mktemp("guarded") / "serve.log", workers=1, extra_env=SHORT_LIMITS
    )
    yield running
    assert running.stop() == 0


def test_a_one_megabyte_head_is_431_and_the_connection_closed(guarded):
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=15) as raw:
        send_ignoring_refusal(raw, HEAD + b"X-Big: " + b"a" * (1024 * 1024) + b"\r\n\r\n")
        answer = read_until_closed(raw)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert b"KiB" in answer  # the body says what the limit is
    assert guarded.request("GET", "/ping", timeout=5).status == 200


def test_a_head_of_many_small_headers_sent_piecewise_is_431(guarded):
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=15) as raw:
        raw.sendall(HEAD)
        for number in range(40):  # 40 KiB in 1 KiB sends, each line a valid header
            send_ignoring_refusal(raw, b"X-H%d: %s\r\n" % (number, b"b" * 1000))
        answer = read_until_closed(raw)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]


def test_a_stalled_head_is_408_and_closed(guarded):
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=15) as raw:
        raw.sendall(HEAD)  # the blank line that ends the head never comes
        answer = read_until_closed(raw)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]


def test_a_stalled_body_is_408_and_closed(guarded):
    line = (FEATURE_LINE + "\n").encode()
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=15) as raw:
        raw.sendall(HEAD + b"Content-Length: 100000\r\n\r\n" + line * 10)
        answer = read_until_closed(raw)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"stalled" in answer
    assert guarded.invoke(FEATURE_LINE.encode()).status == 200


def test_a_slow_but_steady_body_is_scored(guarded):
    line = (FEATURE_LINE + "\n").encode()
    body = line * 200  # ~25 KB in 5 pieces over 2 s: past the 1 s grace, over 4 KiB/s
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=15) as raw:
        raw.sendall(HEAD + b"Content-Length: %d\r\n\r\n" % len(body))
        for start in range(0, len(body), len(body) // 5):
            time.sleep(0.4)
            raw.sendall(body[start : start + len(body) // 5])
        raw.settimeout(15)
        answer = raw.recv(1 << 20)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]


def test_idle_connections_are_capped_closed_and_ping_answers(opt_ml, tmp_path):
    """The open-files soft limit is raised to the hard one, connections past the cap
    close the oldest idle ones, idle connections are closed after the keep-alive time,
    and /ping answers throughout (today: 300 idle sockets exhaust a 256-file limit)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)

    def low_file_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

    port = free_port()
    environment = {
        **os.environ,
        **SHORT_LIMITS,
        "OPT_ML": str(opt_ml),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
        "BIGMART_MAX_CONNECTIONS": "100",
    }
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - the child writes it
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("serve"))],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=low_file_limit,
    )
    server = RunningServer(opt_ml, port=port, log_path=tmp_path / "serve.log")
    server.process = process  # started here: the file limit is set in the child
    idle: list[socket.socket] = []
    try:
        server.wait_until_healthy(PING_TIMEOUT_SECONDS)
        worker = server.worker_pids()[0]
        limits = Path(f"/proc/{worker}/limits").read_text()
        files = next(line for line in limits.splitlines() if line.startswith("Max open files"))
        assert files.split()[3:5] == [str(hard), str(hard)], files
        for _ in range(300):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=20))
        for _ in range(5):
            assert server.request("GET", "/ping", timeout=5).status == 200
        open_files = len(list(Path(f"/proc/{worker}/fd").iterdir()))
        assert open_files < 100 + 64, open_files  # the cap, not the 300 clients
        for connection in idle:
            assert read_until_closed(connection, timeout=20) == b""
        assert server.invoke(FEATURE_LINE.encode()).status == 200
    finally:
        for connection in idle:
            connection.close()
        assert server.stop() == 0


def _memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def test_stalled_bodies_are_refused_past_the_budget_and_memory_stays_bounded(opt_ml, tmp_path):
    """60 clients each announce a 6 MiB body, send 4 MiB of it and stall: today the
    worker buffers all 240 MiB; here at most the 16 MiB budget is buffered, the rest are
    answered 503 with Retry-After, and /ping answers throughout."""
    server = start_server(
        opt_ml,
        tmp_path / "serve.log",
        workers=1,
        extra_env={**SHORT_LIMITS, "BIGMART_BODY_TIMEOUT": "5", "BIGMART_BODY_BUFFER_MB": "16"},
    )
    line = (FEATURE_LINE + "\n").encode()
    part = line * (4 * 1024 * 1024 // len(line))
    clients: list[socket.socket] = []
    try:
        worker = server.worker_pids()[0]
        before = _memory_kb(worker, "VmRSS")

        def stall() -> socket.socket:
            client = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            send_ignoring_refusal(client, HEAD + b"Content-Length: 6291456\r\n\r\n")
            with contextlib.suppress(TimeoutError):  # the server stopped reading this one
                send_ignoring_refusal(client, part)
            return client

        with ThreadPoolExecutor(max_workers=60) as pool:
            clients = list(pool.map(lambda _: stall(), range(60)))
        assert server.request("GET", "/ping", timeout=5).status == 200
        peak = _memory_kb(worker, "VmHWM")
        assert peak - before < 100 * 1024, (before, peak)  # today: > 240 MiB more
        answers = [read_until_closed(client) for client in clients]
        refused = [a for a in answers if a.startswith(b"HTTP/1.1 503")]
        assert len(refused) >= 40, [a[:40] for a in answers]
        assert all(b"retry-after: 1" in a.lower() for a in refused)
        assert all(a.startswith((b"HTTP/1.1 503", b"HTTP/1.1 408")) for a in answers)
        assert server.invoke(FEATURE_LINE.encode()).status == 200
    finally:
        for client in clients:
            client.close()
        assert server.stop() == 0


# -- batch transform's header rows (item 15) --------------------------------------------------

HEADER = (
    "Item_Identifier,Item_Weight,Item_Fat_Content,Item_Visibility,Item_Type,Item_MRP,"
    "Outlet_Identifier,Outlet_Establishment_Year,Outlet_Size,Outlet_Location_Type,"
    "Outlet_Type"
)


@pytest.fixture(scope="module")
def batch_server(opt_ml, tmp_path_factory):
    running = start_server(
        opt_ml,
        tmp_path_factory.mktemp("batch") / "serve.log",
        workers=1,
        extra_env={"SAGEMAKER_BATCH": "true"},
    )
    yield running
    assert running.stop() == 0


def test_batch_a_csv_header_record_gets_an_output_line_of_its_own(batch_server):
    other = FEATURE_LINE.replace("107.8622", "250.0")
    plain = batch_server.invoke(f"{FEATURE_LINE}\n{other}\n".encode())
    assert plain.status == 200
    scores = plain.body.decode().splitlines()
    with_header = batch_server.invoke(f"{HEADER}\n{FEATURE_LINE}\n{other}\n".encode())
    assert with_header.status == 200
    assert with_header.body.decode().splitlines() == ["Item_Outlet_Sales", *scores]
    alone = batch_server.invoke(f"{HEADER}\n".encode())  # SingleRecord sends it alone
    assert (alone.status, alone.body) == (200, b"Item_Outlet_Sales\n")


def test_batch_a_csv_header_record_is_null_in_json_outputs(batch_server):
    body = f"{HEADER}\n{FEATURE_LINE}\n".encode()
    score = float(batch_server.invoke(FEATURE_LINE.encode()).body)
    lines = batch_server.invoke(body, accept="application/jsonlines")
    assert lines.status == 200
    assert [json.loads(line) for line in lines.body.splitlines()] == [
        {"prediction": None},
        {"prediction": score},
    ]
    document = batch_server.invoke(body, accept="application/json")
    assert json.loads(document.body) == {"predictions": [None, score]}


def test_real_time_still_reads_a_header_as_column_names(guarded):
    response = guarded.invoke(f"{HEADER}\n{FEATURE_LINE}\n".encode())
    assert response.status == 200 and len(response.body.splitlines()) == 1
