"""Soak: the product's endpoint under mixed good and hostile traffic for a set time.

Run from the repository root::

    .venv/bin/python -m benchmarks.soak [--minutes M] [--warmup S] [--workers N] [--rate R]
        [--clients C] [--idle N] [--stalled N] [--slowloris N] [--hold S] [--opt-ml DIR]

It trains the product model (``bigmart train``, into a scratch folder it prints and removes
when it ends; ``--opt-ml`` reuses a trained one), starts the real ``serve`` on a free
loopback port, and runs, from one asyncio process:

- good traffic: ``--clients`` keep-alive clients sending, in turn, 1-row and 100-row CSV and
  JSON invocations at ``--rate`` requests/s in all (steady, not flat-out); each answer must
  be a 200 with one prediction per row;
- hostile traffic, each kind on its own connections:
  ``stalled-body`` (a 6 MiB Content-Length, ``--stalled-sent-kb`` sent (4 KiB), then
  silence; ``--stalled`` at once),
  ``huge-head`` (one header of ``--huge-head-mb`` MB, one every 2 s),
  ``malformed`` bodies (bad CSV, bad JSON, invalid UTF-8, wrong content types; 5/s on one
  keep-alive connection), ``idle`` connections (``--idle`` opened, left open, reopened
  when the server closes them) and ``slowloris`` heads (a byte a second, never finished;
  ``--slowloris`` at once). A stalled body or slowloris head the server still holds after
  ``--hold`` seconds is counted as "held" and dropped;
- a ``GET /ping`` prober every 0.5 s on a fresh connection, failing after 2 s.

The first ``--warmup`` seconds run the same mix; the per-worker RSS at the start is the
median of the samples (every 2 s, from /proc, workers found as children of the serve
master) in the warm-up's last 10 s, and at the end the median of the run's last 10 s; the
RSS before any traffic and the highest sample are shown too, since memory a hostile
client holds for the whole run is in both the start and the end. A
progress line is printed every minute; at the end: good requests served, their p50/p99
latency after warm-up (and the median of the per-minute p99s), 5xx counts for good and
hostile requests, /ping failures, hostile attempts by kind with how the server answered
(status, "closed", "reset", "held"), per-worker RSS, and what the server's log says about
tracebacks and worker timeouts.

Exit status: 0 when the goals hold over the whole run, warm-up included (no 5xx and no
other failure on good requests, no failed /ping, RSS growth < 5% per worker with no
worker replaced); 1 when one fails; 2 when the soak could not run (e.g. the server did
not start). MB here is 10**6 bytes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import json
import math
import resource
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.scratch import scratch_folder
from benchmarks.serving import (
    DATA_DIR,
    HOST,
    BenchmarkError,
    Server,
    children,
    free_port,
    proc_field_kb,
    product_command,
    raw_rows,
    serving,
    train_product,
    wait_first_ping,
)

MIB = 1024 * 1024
STALLED_BODY_BYTES = 6 * MIB  # the real-time payload limit: declared, never sent
GOOD_TIMEOUT_S = 10.0
PING_EVERY_S = 0.5
PING_TIMEOUT_S = 2.0
CONNECT_TIMEOUT_S = 5.0
ANSWER_TIMEOUT_S = 10.0  # for hostile requests the server is expected to answer at once
HUGE_HEAD_EVERY_S = 2.0
MALFORMED_PER_S = 5.0
SLOWLORIS_BYTE_EVERY_S = 1.0
RETRY_PAUSE_S = 1.0  # before a hostile slot opens its next connection
IDLE_REOPEN_S = 5.0  # an idle connection the server closed is reopened after this
RSS_EVERY_S = 2.0
RSS_WINDOW_S = 10.0
PROGRESS_EVERY_S = 60.0
TARGET_RSS_GROWTH = 0.05
BATCH_ROWS = 100
#: What a request on a connection the server dropped or garbled raises.
BROKEN = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError)


# -- HTTP on asyncio streams ------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    closes: bool  # the server said it will close the connection (or gave no length)


async def read_response(reader: asyncio.StreamReader) -> Response:
    """One HTTP/1.1 response; raises ``asyncio.IncompleteReadError`` on early EOF."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        raise ValueError(f"not an HTTP response: {lines[0][:80]!r}") from None
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = headers.get("content-length")
    if length is None:
        return Response(status, await reader.read(), closes=True)
    body = await reader.readexactly(int(length))
    return Response(status, body, closes=headers.get("connection", "").lower() == "close")


def http_request(
    method: str, path: str, body: bytes = b"", headers: Sequence[tuple[str, str]] = ()
) -> bytes:
    """The bytes of one keep-alive request."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}"]
    lines += [f"{name}: {value}" for name, value in headers]
    if method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Connection:
    """A keep-alive client connection, reopened when the server has closed it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def exchange(self, request: bytes) -> Response:
        """Send a request and read its answer; on a reused connection the server closed
        before answering a byte (an idle close racing our send), retry once on a new one,
        as HTTP clients do."""
        reused = self.streams is not None
        try:
            return await self._exchange(request)
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            self.close()
            nothing = not isinstance(error, asyncio.IncompleteReadError) or not error.partial
            if not (reused and nothing):
                raise
        return await self._exchange(request)

    async def _exchange(self, request: bytes) -> Response:
        if self.streams is None:
            self.streams = await asyncio.open_connection(HOST, self.port)
        reader, writer = self.streams
        writer.write(request)
        await writer.drain()
        response = await read_response(reader)
        if response.closes:
            self.close()
        return response

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].transport.abort()
            self.streams = None


# -- what is sent -------------------------------------------------------------------------


@dataclass(frozen=True)
class GoodRequest:
    label: str
    rows: int
    request: bytes
    json_answer: bool


def json_records(test_csv: Path, rows: int) -> list[dict[str, object]]:
    """The first ``rows`` records of a Big Mart CSV as JSON values (numbers as numbers,
    empty cells as null), cycled if the file is short."""
    records = list(csv.DictReader(io.StringIO(test_csv.read_text())))
    if not records:
        raise BenchmarkError(f"{test_csv} has no data rows")

    def value(text: str) -> object:
        if not text:
            return None
        try:
            return float(text)
        except ValueError:
            return text

    return [
        {key: value(text) for key, text in records[i % len(records)].items()} for i in range(rows)
    ]


def good_requests(test_csv: Path) -> list[GoodRequest]:
    """1-row and 100-row CSV and JSON invocations, in the order the clients cycle them."""
    made = []
    for rows in (1, BATCH_ROWS):
        csv_body = raw_rows(test_csv, rows)
        csv_headers = [("Content-Type", "text/csv"), ("Accept", "text/csv")]
        made.append(
            GoodRequest(
                f"csv-{rows}",
                rows,
                http_request("POST", "/invocations", csv_body, csv_headers),
                False,
            )
        )
        json_body = json.dumps({"instances": json_records(test_csv, rows)}).encode()
        json_headers = [("Content-Type", "application/json"), ("Accept", "application/json")]
        made.append(
            GoodRequest(
                f"json-{rows}",
                rows,
                http_request("POST", "/invocations", json_body, json_headers),
                True,
            )
        )
    return made


def answered_rows(body: bytes, json_answer: bool) -> int:
    """Predictions in an answer (-1 when it cannot be read)."""
    if not json_answer:
        return len(body.splitlines())
    try:
        return len(json.loads(body)["predictions"])
    except (ValueError, KeyError, TypeError):
        return -1


def malformed_requests(test_csv: Path) -> list[tuple[str, bytes]]:
    """(kind, request) of bodies that must be refused with a 4xx."""
    row = raw_rows(test_csv, 1)

    def post(body: bytes, content_type: str) -> bytes:
        return http_request("POST", "/invocations", body, [("Content-Type", content_type)])

    return [
        ("malformed-csv", post(b"not,a,big,mart,row\n", "text/csv")),
        ("malformed-csv", post(b'FDW58,"an unterminated quote\n', "text/csv")),
        ("malformed-csv", post(row.replace(b",", b",heavy,", 1), "text/csv")),
        ("malformed-csv", post(b"\n\n\n", "text/csv")),
        ("malformed-json", post(b'{"instances": [{"Item_MRP": 1', "application/json")),
        ("malformed-json", post(b"[1, 2, 3]", "application/json")),
        ("malformed-json", post(b'{"instances": ' + b"[" * 5000, "application/json")),
        ("malformed-json", post(b'{"Item_MRP": "a lot"}', "application/json")),
        ("invalid-utf8", post(b"\xff\xfe" + row, "text/csv")),
        ("invalid-utf8", post(b'{"instances": [{"Item_Identifier": "\xff"}]}', "application/json")),
        ("wrong-content-type", post(row, "image/png")),
        ("wrong-content-type", post(b"a=1&b=2", "application/x-www-form-urlencoded")),
        ("wrong-content-type", post(row, "multipart/form-data; boundary=x")),
    ]


# -- what is counted ----------------------------------------------------------------------


@dataclass
class Window:
    """What happened in one stretch of the run (the warm-up, or one minute)."""

    label: str
    good_ok: int = 0
    good_5xx: int = 0
    good_failed: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    pings: int = 0
    ping_failed: Counter[str] = field(default_factory=Counter)
    #: (kind, answer) -> seconds from connecting to the answer, one per attempt.
    hostile: defaultdict[tuple[str, str], list[float]] = field(
        default_factory=lambda: defaultdict(list)
    )

    @property
    def hostile_5xx(self) -> int:
        return sum(len(v) for (_, answer), v in self.hostile.items() if answer.startswith("5"))


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (nan for no values)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(math.ceil(q / 100 * len(ordered)) - 1, 0)]


@dataclass
class RssSample:
    at: float
    mb: dict[int, float]  # worker pid -> RSS


# -- the soak -----------------------------------------------------------------------------


class Soak:
    """The load generator: every client is a task on this process's event loop."""

    def __init__(self, args: argparse.Namespace, server: Server) -> None:
        self.args = args
        self.server = server
        self.port = server.port
        self.good = good_requests(args.test)
        self.malformed = malformed_requests(args.test)
        self.windows = [Window("warm-up")]
        self.rss: list[RssSample] = []
        self.pending: set[asyncio.Task[None]] = set()
        self.stopping = False

    @property
    def now(self) -> Window:
        return self.windows[-1]

    def record_hostile(self, kind: str, answer: str, seconds: float) -> None:
        self.now.hostile[(kind, answer)].append(seconds)

    # -- good traffic and the prober --

    async def good_client(self, index: int) -> None:
        loop = asyncio.get_running_loop()
        period = self.args.clients / self.args.rate
        connection = Connection(self.port)
        turn = index
        next_at = loop.time() + period * index / self.args.clients
        while not self.stopping:
            await asyncio.sleep(max(next_at - loop.time(), 0))
            next_at = max(next_at + period, loop.time())  # late: carry on, do not burst
            good = self.good[turn % len(self.good)]
            turn += 1
            started = time.perf_counter()
            try:
                response = await asyncio.wait_for(connection.exchange(good.request), GOOD_TIMEOUT_S)
            except TimeoutError:
                connection.close()
                self.now.good_failed["timeout"] += 1
                continue
            except BROKEN as error:
                connection.close()
                self.now.good_failed[f"connection: {type(error).__name__}"] += 1
                continue
            elapsed_ms = (time.perf_counter() - started) * 1e3
            if response.status >= 500:
                self.now.good_5xx += 1
            elif response.status != 200:
                self.now.good_failed[f"status {response.status}"] += 1
            elif answered_rows(response.body, good.json_answer) != good.rows:
                self.now.good_failed[f"{good.label}: wrong number of predictions"] += 1
            else:
                self.now.good_ok += 1
                self.now.latencies_ms.append(elapsed_ms)

    async def prober(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while not self.stopping:
            await asyncio.sleep(max(next_at - loop.time(), 0))
            next_at += PING_EVERY_S
            # Its own task: a slow ping must not delay the next one.
            self.spawn(self.ping())

    async def ping(self) -> None:
        window = self.now
        window.pings += 1
        connection = Connection(self.port)
        try:
            response = await asyncio.wait_for(
                connection.exchange(http_request("GET", "/ping")), PING_TIMEOUT_S
            )
            if response.status != 200:
                window.ping_failed[f"status {response.status}"] += 1
        except TimeoutError:
            window.ping_failed[f"no answer in {PING_TIMEOUT_S:g} s"] += 1
        except BROKEN as error:
            window.ping_failed[type(error).__name__] += 1
        finally:
            connection.close()

    # -- hostile traffic --

    async def attempt(
        self, kind: str, send: Callable[[asyncio.StreamWriter], Awaitable[None]], hold: float
    ) -> None:
        """Open a connection, run ``send`` on it while waiting (up to ``hold`` s) for the
        server's answer, and record what it was."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(HOST, self.port), CONNECT_TIMEOUT_S
            )
        except (OSError, TimeoutError) as error:
            self.record_hostile(kind, f"connect failed ({type(error).__name__})", 0.0)
            return
        answer = asyncio.ensure_future(first_answer(reader))
        sender = asyncio.ensure_future(quietly(send(writer)))
        try:
            done, _ = await asyncio.wait({answer}, timeout=None if math.isinf(hold) else hold)
            outcome = answer.result() if done else "held"
        except asyncio.CancelledError:
            self.record_hostile(kind, "open at the end", loop.time() - started)
            raise
        finally:
            sender.cancel()
            answer.cancel()
            writer.transport.abort()
        self.record_hostile(kind, outcome, loop.time() - started)

    async def stalled_bodies(self) -> None:
        head = (
            f"POST /invocations HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: text/csv\r\n"
            f"Content-Length: {STALLED_BODY_BYTES}\r\n\r\n"
        ).encode()

        async def send(writer: asyncio.StreamWriter) -> None:
            writer.write(head + b"1" * int(self.args.stalled_sent_kb * 1024))
            await writer.drain()
            await asyncio.Event().wait()  # and then nothing, until dropped

        await self.slots(self.args.stalled, "stalled-body", send, self.args.hold)

    async def slowloris(self) -> None:
        start = f"POST /invocations HTTP/1.1\r\nHost: {HOST}\r\nX-Slow: ".encode()

        async def send(writer: asyncio.StreamWriter) -> None:
            writer.write(start)
            await writer.drain()
            while True:  # a head that never ends
                await asyncio.sleep(SLOWLORIS_BYTE_EVERY_S)
                writer.write(b"a")
                await writer.drain()

        await self.slots(self.args.slowloris, "slowloris", send, self.args.hold)

    async def slots(
        self,
        count: int,
        kind: str,
        send: Callable[[asyncio.StreamWriter], Awaitable[None]],
        hold: float,
    ) -> None:
        """Keep ``count`` attempts of one kind going at once, spread over the first seconds."""

        async def slot(index: int) -> None:
            await asyncio.sleep(index * 0.1)
            while not self.stopping:
                await self.attempt(kind, send, hold)
                await asyncio.sleep(RETRY_PAUSE_S)

        await asyncio.gather(*(slot(i) for i in range(count)))

    async def huge_heads(self) -> None:
        padding = b"a" * int(self.args.huge_head_mb * 1e6)
        start = f"POST /invocations HTTP/1.1\r\nHost: {HOST}\r\nX-Padding: ".encode()
        end = b"\r\nContent-Type: text/csv\r\nContent-Length: 0\r\n\r\n"

        async def send(writer: asyncio.StreamWriter) -> None:
            writer.write(start)
            for offset in range(0, len(padding), 64 * 1024):  # so a refusal stops us early
                writer.write(padding[offset : offset + 64 * 1024])
                await writer.drain()
            writer.write(end)
            await writer.drain()

        while not self.stopping:
            await self.attempt("huge-head", send, ANSWER_TIMEOUT_S)
            await asyncio.sleep(HUGE_HEAD_EVERY_S)

    async def malformed_bodies(self) -> None:
        connection = Connection(self.port)
        turn = 0
        while not self.stopping:
            await asyncio.sleep(1 / MALFORMED_PER_S)
            kind, request = self.malformed[turn % len(self.malformed)]
            turn += 1
            started = time.perf_counter()
            try:
                response = await asyncio.wait_for(connection.exchange(request), ANSWER_TIMEOUT_S)
                outcome = str(response.status)
            except TimeoutError:
                connection.close()
                outcome = "held"
            except asyncio.IncompleteReadError:
                connection.close()
                outcome = "closed"
            except BROKEN as error:
                connection.close()
                outcome = (
                    "reset" if isinstance(error, ConnectionResetError) else type(error).__name__
                )
            self.record_hostile(kind, outcome, time.perf_counter() - started)

    async def idle_connections(self) -> None:
        """``--idle`` connections that send nothing; one the server closes is reopened."""

        async def send(writer: asyncio.StreamWriter) -> None:
            await asyncio.Event().wait()

        async def slot(index: int) -> None:
            await asyncio.sleep(index * 0.02)
            while not self.stopping:
                # Held until the server closes it: the run's end stops the wait.
                await self.attempt("idle", send, math.inf)
                await asyncio.sleep(IDLE_REOPEN_S)

        await asyncio.gather(*(slot(i) for i in range(self.args.idle)))

    # -- memory and progress --

    async def sample_rss(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.stopping:
            pids = await loop.run_in_executor(None, worker_pids_rss, self.server.process.pid)
            self.rss.append(RssSample(loop.time(), pids))
            await asyncio.sleep(RSS_EVERY_S)

    def rss_around(self, end: float) -> dict[int, float]:
        """Median RSS per worker over the samples of the ``RSS_WINDOW_S`` before ``end``."""
        by_pid: defaultdict[int, list[float]] = defaultdict(list)
        for sample in self.rss:
            if end - RSS_WINDOW_S <= sample.at <= end:
                for pid, mb in sample.mb.items():
                    by_pid[pid].append(mb)
        if not by_pid and self.rss:  # a warm-up shorter than one sampling period
            return dict(self.rss[-1].mb)
        return {pid: statistics.median(values) for pid, values in sorted(by_pid.items())}

    def spawn(self, coroutine: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coroutine)
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)
        return task

    async def run(self) -> tuple[dict[int, float], dict[int, float]]:
        """Drive everything; return the per-worker RSS at the start and at the end."""
        loop = asyncio.get_running_loop()
        drivers = [self.sample_rss(), self.prober(), self.huge_heads(), self.malformed_bodies()]
        drivers += [self.good_client(i) for i in range(self.args.clients)]
        drivers += [self.stalled_bodies(), self.slowloris(), self.idle_connections()]
        running = [self.spawn(driver) for driver in drivers]
        try:
            await asyncio.sleep(self.args.warmup)
            rss_start = self.rss_around(loop.time())
            self.progress()
            minutes = 0
            ends = loop.time() + self.args.minutes * 60
            while loop.time() < ends - 1e-3:
                minutes += 1
                self.windows.append(Window(f"minute {minutes}"))
                await asyncio.sleep(min(PROGRESS_EVERY_S, ends - loop.time()))
                self.progress()
                if self.server.process.poll() is not None:
                    print(f"the server exited ({self.server.process.returncode}); stopping")
                    break
                check_running(running)
            check_running(running)
            rss_end = self.rss_around(loop.time())
        finally:
            # Cancel until every task has ended: on Python 3.11 ``wait_for`` can swallow a
            # cancellation that races its inner future, and the loops also check ``stopping``.
            self.stopping = True
            while self.pending:
                for task in list(self.pending):
                    task.cancel()
                await asyncio.wait(list(self.pending), timeout=1.0)
        return rss_start, rss_end

    def progress(self) -> None:
        window = self.now
        hostile = sum(len(v) for v in window.hostile.values())
        rss = self.rss[-1].mb if self.rss else {}
        rss_text = " ".join(f"{mb:.1f}" for mb in rss.values()) or "-"
        print(
            f"[{window.label:>9}] good {window.good_ok:,} ok "
            f"(p50 {percentile(window.latencies_ms, 50):.1f} ms, "
            f"p99 {percentile(window.latencies_ms, 99):.1f} ms), "
            f"5xx {window.good_5xx}, failed {sum(window.good_failed.values())}; "
            f"pings {window.pings} failed {sum(window.ping_failed.values())}; "
            f"hostile {hostile:,} (5xx {window.hostile_5xx}); "
            f"worker RSS MB {rss_text}",
            flush=True,
        )


def check_running(drivers: Sequence[asyncio.Task[None]]) -> None:
    """A traffic driver only ends by failing: then the soak's figures are wrong."""
    for task in drivers:
        if task.done():
            error = task.exception()
            raise BenchmarkError(f"a traffic driver stopped: {error!r}")


async def first_answer(reader: asyncio.StreamReader) -> str:
    """How the server first reacts on a connection: a status, "closed" or "reset"."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        head = error.partial
    except asyncio.LimitOverrunError:
        head = await reader.read(64 * 1024)
    except ConnectionResetError:
        return "reset"
    except OSError as error:
        return type(error).__name__
    if head.startswith(b"HTTP/"):
        with contextlib.suppress(IndexError, ValueError):
            return str(int(head.split(b" ", 2)[1]))
    return "closed" if not head else "garbage"


async def quietly(sending: Awaitable[None]) -> None:
    """Send, ignoring the errors of writing to a connection the server has dropped: how
    the server reacted is read on the other side."""
    with contextlib.suppress(OSError):
        await sending


def worker_pids_rss(master: int) -> dict[int, float]:
    """RSS (MB) of each worker, by pid."""
    found = {}
    for pid in children(master):
        with contextlib.suppress(OSError, ValueError):
            found[pid] = proc_field_kb(Path(f"/proc/{pid}/status"), "VmRSS") * 1024 / 1e6
    return found


# -- report -------------------------------------------------------------------------------


def report(
    soak: Soak, rss_start: dict[int, float], rss_end: dict[int, float], rss_idle: dict[int, float]
) -> list[tuple[bool, str]]:
    """Print the totals; return each goal with whether it held."""
    args = soak.args
    windows = soak.windows
    measured = [w for w in windows[1:] if w.latencies_ms]
    latencies = [ms for w in windows[1:] for ms in w.latencies_ms]
    good_ok = sum(w.good_ok for w in windows)
    good_5xx = sum(w.good_5xx for w in windows)
    good_failed = sum((w.good_failed for w in windows), Counter())
    pings = sum(w.pings for w in windows)
    ping_failed = sum((w.ping_failed for w in windows), Counter())
    hostile: defaultdict[tuple[str, str], list[float]] = defaultdict(list)
    for window in windows:
        for key, seconds in window.hostile.items():
            hostile[key] += seconds
    usage = resource.getrusage(resource.RUSAGE_SELF)

    print()
    print(
        f"soak: {args.minutes:g} min after a {args.warmup:g} s warm-up, {args.workers} workers; "
        f"good traffic {args.rate:g} req/s from {args.clients} clients; this load generator "
        f"used {usage.ru_utime + usage.ru_stime:.0f} CPU s"
    )
    print(f"good requests served (200, right number of predictions): {good_ok:,}")
    print(
        f"good latency after warm-up: p50 {percentile(latencies, 50):.2f} ms, "
        f"p99 {percentile(latencies, 99):.2f} ms; median of the per-minute p99s "
        f"{_median([percentile(w.latencies_ms, 99) for w in measured]):.2f} ms"
    )
    print(f"good requests answered 5xx: {good_5xx}")
    print(f"good requests failed otherwise: {_counts(good_failed)}")
    failed = f" ({_counts(ping_failed)})" if ping_failed else ""
    print(f"/ping: {pings:,} probes, {sum(ping_failed.values())} failed{failed}")
    hostile_5xx = sum(len(v) for (_, answer), v in hostile.items() if answer.startswith("5"))
    print(f"hostile requests answered 5xx: {hostile_5xx}")
    print("hostile attempts by kind: how the server answered (count, median seconds to it)")
    kinds = sorted({kind for kind, _ in hostile})
    for kind in kinds:
        answers = {a: v for (k, a), v in hostile.items() if k == kind}
        total = sum(len(v) for v in answers.values())
        detail = ", ".join(
            f"{answer} x{len(seconds):,} ({statistics.median(seconds):.2f} s)"
            for answer, seconds in sorted(answers.items(), key=lambda item: -len(item[1]))
        )
        print(f"  {kind:20} {total:>7,}: {detail}")
    print("worker RSS (MB): before any traffic; start and end, medians of 10 s of samples;")
    print("the highest sample of the whole run; growth from start to end")
    print(f"  {'pid':>8} {'idle':>8} {'start':>8} {'end':>8} {'peak':>8} {'growth':>8}")
    growths = []
    for pid in sorted(set(rss_start) | set(rss_end)):
        start, end = rss_start.get(pid), rss_end.get(pid)
        peak = max((sample.mb[pid] for sample in soak.rss if pid in sample.mb), default=None)
        growth = (end / start - 1) if start and end else float("nan")
        growths.append(growth)
        print(
            f"  {pid:>8} {_mb(rss_idle.get(pid))} {_mb(start)} {_mb(end)} {_mb(peak)} "
            f"{'replaced' if math.isnan(growth) else f'{growth:+.1%}':>8}"
        )
    log = soak.server.log.read_text(errors="replace")
    print(
        f"server log: {log.count('Traceback')} tracebacks, {log.count('WORKER TIMEOUT')} worker "
        f"timeouts, {max(log.count('Booting worker') - args.workers, 0)} workers restarted"
    )
    worst = max(growths, default=float("nan"), key=lambda g: math.inf if math.isnan(g) else g)
    return [
        (good_5xx == 0, f"good requests answered 5xx: {good_5xx} (goal 0)"),
        (
            not good_failed and good_ok > 0,
            f"good requests failed otherwise: {sum(good_failed.values())} (goal 0)",
        ),
        (not ping_failed, f"failed /ping: {sum(ping_failed.values())} of {pings:,} (goal 0)"),
        (
            bool(growths) and worst < TARGET_RSS_GROWTH,
            f"RSS growth per worker: worst {'replaced' if math.isnan(worst) else f'{worst:+.1%}'} "
            f"(goal < {TARGET_RSS_GROWTH:.0%})",
        ),
    ]


def _counts(counter: Counter[str]) -> str:
    if not counter:
        return "none"
    return ", ".join(f"{k}: {v}" for k, v in counter.most_common())


def _mb(value: float | None) -> str:
    return f"{value:>8.1f}" if value is not None else f"{'-':>8}"


def _median(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return statistics.median(values) if values else float("nan")


# -- orchestration ------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--minutes",
        type=float,
        default=10.0,
        help="length of the soak after the warm-up (default 10)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=30.0,
        help="seconds of the same traffic before the starting RSS (default 30)",
    )
    parser.add_argument("--workers", type=int, default=2, help="serve workers (default 2)")
    parser.add_argument(
        "--rate",
        type=float,
        default=40.0,
        help="good requests per second, all clients together (default 40)",
    )
    parser.add_argument(
        "--clients", type=int, default=4, help="good keep-alive clients (default 4)"
    )
    parser.add_argument(
        "--idle", type=int, default=300, help="idle connections held open (default 300)"
    )
    parser.add_argument(
        "--stalled", type=int, default=20, help="stalled 6 MiB bodies at once (default 20)"
    )
    parser.add_argument(
        "--stalled-sent-kb",
        type=float,
        default=4.0,
        help="KiB of each stalled body sent before it stalls (default 4; up to 6144)",
    )
    parser.add_argument(
        "--slowloris", type=int, default=20, help="slowloris heads at once (default 20)"
    )
    parser.add_argument(
        "--huge-head-mb", type=float, default=4.0, help="size of the huge header, MB (default 4)"
    )
    parser.add_argument(
        "--hold",
        type=float,
        default=90.0,
        help="seconds a stalled body or slowloris head is kept before it counts as "
        "'held' and is dropped (default 90)",
    )
    parser.add_argument(
        "--opt-ml", type=Path, help="an OPT_ML root holding a trained model/ (default: train one)"
    )
    parser.add_argument("--train", type=Path, default=DATA_DIR / "train.csv", help="training CSV")
    parser.add_argument(
        "--test", type=Path, default=DATA_DIR / "test.csv", help="rows for the good requests"
    )
    args = parser.parse_args(argv)
    if not 0 <= args.stalled_sent_kb < STALLED_BODY_BYTES / 1024:
        parser.error(f"--stalled-sent-kb must be >= 0 and < {STALLED_BODY_BYTES // 1024}")
    if min(args.minutes, args.rate, args.hold, args.huge_head_mb) <= 0:
        parser.error("--minutes, --rate, --hold and --huge-head-mb must be > 0")
    if (
        min(args.workers, args.clients) < 1
        or min(args.idle, args.stalled, args.slowloris, args.warmup) < 0
    ):
        parser.error("--workers and --clients must be >= 1; counts and --warmup must be >= 0")
    return args


def soak(args: argparse.Namespace, workdir: Path) -> int:
    root = args.opt_ml or train_product(args.train, workdir)
    port = free_port()
    command, env = product_command(root, port, args.workers)
    with serving("product", command, env, port, workdir / "serve.log") as server:
        print(f"serve: first /ping 200 after {wait_first_ping(server):.2f} s (port {port})")
        rss_idle = worker_pids_rss(server.process.pid)
        print(f"soaking for {args.minutes:g} min after a {args.warmup:g} s warm-up", flush=True)
        runner = Soak(args, server)
        rss_start, rss_end = asyncio.run(runner.run())
        goals = report(runner, rss_start, rss_end, rss_idle)
    print()
    for met, text in goals:
        print(f"{'PASS' if met else 'FAIL'}  {text}")
    return 0 if all(met for met, _ in goals) else 1


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point: always stops the server and removes the scratch folder
    (SIGTERM unwinds like Ctrl-C)."""
    args = parse_args(argv)
    try:
        with scratch_folder("soak") as workdir:
            code = soak(args, workdir)
    except BenchmarkError as error:
        print(f"soak failed: {error}", file=sys.stderr)
        code = 2
    sys.exit(code)


if __name__ == "__main__":
    main()
