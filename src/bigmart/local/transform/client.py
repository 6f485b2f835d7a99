"""Batch transform, locally, with SageMaker's semantics.

The real ``serve`` runs with the batch environment (``SAGEMAKER_BATCH=true``, the payload
limit, …). Each input object is split into records (SplitType), the records packed into
mini-batches by bytes under the payload limit (BatchStrategy; never across two objects),
sent concurrently (MaxConcurrentTransforms), and the answers written in input order to
``<name>.out`` under the output location, keeping the input's relative path. An output is
published only when every record of its object has an answer, so a failed object leaves no
``.out`` and the others still complete: whatever goes wrong inside one object (a corrupt
gzip stream, a record too long or too deep to write, a lost server) fails that object,
naming its line. Transient failures (a worker dying, a connection reset, a 5xx) are
retried up to 3 times, as SageMaker's ``InvocationsMaxRetries``.

Memory is bounded by the settings, not by the input: input is read in pieces, a record is
refused once more than the payload limit of it has been read, and at most
``concurrency + 1`` mini-batches are held at once.
"""

from __future__ import annotations

import csv
import gzip
import http.client
import io
import re
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from bigmart.clipping import describe, one_line
from bigmart.codecs import CSV, JSON, JSON_LINES, is_header_row, media_type, strip_bom
from bigmart.local import storage
from bigmart.local.transform.jsonpath import JsonPathError, Step, compile_path
from bigmart.local.transform.options import TransformOptions

MIB = 1024 * 1024
MAX_RETRIES = 3
RETRY_STATUSES = frozenset({500, 502, 503, 504})
#: Name of the prediction column when a joined CSV output keeps the input's header row.
PREDICTION_COLUMN = "prediction"
#: With MaxPayloadInMB=0 (unbounded), records are still sent in blocks of this size so that
#: memory stays flat; SageMaker streams such payloads in chunks too.
UNBOUNDED_BLOCK = 64 * MIB
#: Input is read in pieces of this size, so the buffer never holds much more than a batch.
READ_SIZE = 1024 * 1024
#: A header row longer than this is not a header (and is not read whole to find out).
HEADER_LIMIT = 64 * 1024
_BLANK_LINE = re.compile(rb"\n[ \t\r]*\n")
Echo = Callable[[str], None]


class RecordFailure(Exception):
    """Records of an object that could not be transformed; names the line and why."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass(frozen=True, slots=True)  # one per record in a batch: keep them small
class Record:
    line: int  # 1-based line of the object (SplitType None: 1)
    raw: bytes  # the input record, without its line ending
    payload: bytes  # what is sent: the record after the input filter


@dataclass(frozen=True)
class Batch:
    """One request: its body, the input line of each record it carries, and the records
    themselves when the answer must be joined with them."""

    body: bytes
    lines: Sequence[int]
    records: list[Record] | None = None


@dataclass
class ObjectOutcome:
    """How one input object went."""

    input: str
    output: str
    records: int = 0
    status: str = "Completed"
    line: int | None = None
    reason: str | None = None


@dataclass
class Plan:
    """The effective settings: job options, then the server's, then SageMaker's defaults."""

    content_type: str
    accept: str | None
    split_lines: bool
    multi_record: bool
    payload_limit: int | None
    concurrency: int
    assemble_lines: bool
    join_input: bool
    input_filter: Step | None
    output_filter: Step | None
    gzipped: bool
    described: dict[str, Any] = field(default_factory=dict)

    @property
    def per_record(self) -> bool:
        """Whether records must be handled one by one (filters, joins, SingleRecord);
        otherwise whole blocks of lines are sent as they are, which is several times
        faster."""
        return self.input_filter is not None or self.join_input or not self.multi_record

    @classmethod
    def resolve(cls, options: TransformOptions, server: dict[str, Any]) -> Plan:
        strategy = options.batch_strategy or {
            "MULTI_RECORD": "MultiRecord",
            "SINGLE_RECORD": "SingleRecord",
        }.get(str(server.get("BatchStrategy", "")).upper(), "MultiRecord")
        payload_mb = options.max_payload_mb
        if payload_mb is None:
            payload_mb = int(server.get("MaxPayloadInMB", 6))
        concurrency = options.max_concurrent_transforms or int(
            server.get("MaxConcurrentTransforms", 1)
        )
        content_type = media_type(options.content_type)
        if options.join_source == "Input" and (
            options.assemble_with != "Line" or options.split_type != "Line"
        ):
            raise ValueError(
                "JoinSource=Input needs SplitType=Line and AssembleWith=Line "
                "(one output per input record)"
            )
        # TransformOptions has already refused a filter that does not compile.
        input_filter = (
            None if options.input_filter.strip() == "$" else compile_path(options.input_filter)
        )
        output_filter = (
            None if options.output_filter.strip() == "$" else compile_path(options.output_filter)
        )
        return cls(
            content_type=content_type,
            accept=options.accept,
            split_lines=options.split_type == "Line",
            multi_record=strategy == "MultiRecord",
            payload_limit=payload_mb * MIB if payload_mb else None,
            concurrency=max(1, concurrency),
            assemble_lines=options.assemble_with == "Line",
            join_input=options.join_source == "Input",
            input_filter=input_filter,
            output_filter=output_filter,
            gzipped=options.compression_type == "Gzip",
            described={
                "BatchStrategy": strategy,
                "MaxPayloadInMB": payload_mb,
                "MaxConcurrentTransforms": max(1, concurrency),
            },
        )


class Invoker:
    """POSTs to ``/invocations`` with one keep-alive connection per thread and retries."""

    def __init__(self, port: int, plan: Plan, timeout: float = 600.0) -> None:
        self.port = port
        self.plan = plan
        self.timeout = timeout
        self.local = threading.local()
        self.headers = {"Content-Type": plan.content_type}
        if plan.accept:
            self.headers["Accept"] = plan.accept
        self.retries = 0

    def invoke(self, body: bytes) -> tuple[int, str, bytes]:
        """``(status, content type, body)``; a transient failure is retried, then raised."""
        last = ""
        for attempt in range(MAX_RETRIES + 1):
            if attempt:
                self.retries += 1
                time.sleep(0.2 * 2 ** (attempt - 1))
            try:
                connection = self._connection()
                connection.request("POST", "/invocations", body=body, headers=self.headers)
                response = connection.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as error:
                self._reset()
                last = f"{type(error).__name__}: {error}"
                continue
            if response.status in RETRY_STATUSES:
                self._reset()
                last = f"HTTP {response.status}: {payload[:200]!r}"
                continue
            return response.status, response.getheader("Content-Type", CSV), payload
        raise ConnectionError(f"invocation failed after {MAX_RETRIES} retries ({last})")

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self.local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            self.local.connection = connection
        return connection

    def _reset(self) -> None:
        connection = getattr(self.local, "connection", None)
        if connection is not None:
            connection.close()
        self.local.connection = None


class Progress:
    """A progress bar on a terminal (records/s, ETA by bytes); log lines otherwise."""

    def __init__(self, total_bytes: int, echo: Echo, bar: bool, every: float = 5.0) -> None:
        self.echo = echo
        self.records = 0
        self.bytes = 0
        self.started = time.monotonic()
        self.last_log = self.started
        self.every = every
        self.total = total_bytes
        self.bar: Any = None
        if bar:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total_bytes, unit="B", unit_scale=True, desc="transform", dynamic_ncols=True
            )

    def advance(self, records: int, size: int) -> None:
        self.records += records
        self.bytes += size
        now = time.monotonic()
        rate = self.records / max(now - self.started, 1e-9)
        if self.bar is not None:
            self.bar.update(size)
            self.bar.set_postfix_str(
                f"{self.records:,} records, {rate:,.0f} records/s", refresh=False
            )
        elif now - self.last_log >= self.every:
            self.last_log = now
            share = f" ({self.bytes / self.total:.0%} of input)" if self.total else ""
            self.echo(f"transformed {self.records:,} records{share}, {rate:,.0f} records/s")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def transform_objects(
    objects: list[storage.StoredObject],
    output: str,
    plan: Plan,
    port: int,
    *,
    echo: Echo = print,
    progress_bar: bool = False,
) -> list[ObjectOutcome]:
    """Transform every object into ``<output>/<relative>.out``; one outcome per object."""
    invoker = Invoker(port, plan)
    progress = Progress(sum(o.size for o in objects), echo, progress_bar)
    outcomes = []
    try:
        with ThreadPoolExecutor(plan.concurrency, thread_name_prefix="invoke") as pool:
            for item in objects:
                destination = storage.join(output, item.relative + ".out")
                outcome = ObjectOutcome(input=item.location, output=destination)
                try:
                    outcome.records = _transform_object(
                        item, destination, plan, invoker, pool, progress
                    )
                except RecordFailure as failure:
                    outcome.status, outcome.line = "Failed", failure.line
                    outcome.reason = one_line(failure.reason)
                except Exception as error:  # e.g. the output cannot be written: this object fails
                    outcome.status, outcome.reason = "Failed", one_line(describe(error))
                outcomes.append(outcome)
    finally:
        progress.close()
    return outcomes


class _Input:
    """An object's bytes, read in pieces; a read that fails (a truncated or corrupt gzip
    stream, a broken S3 stream) fails the object, naming the line it was reading."""

    def __init__(self, stream: IO[bytes], gzipped: bool) -> None:
        self.stream = stream
        self.gzipped = gzipped
        self.line = 1  # the line of the next byte

    def read(self, size: int) -> bytes:
        try:
            data = self.stream.read(size)
        except Exception as error:
            raise RecordFailure(self.line, _unreadable(error, self.gzipped)) from None
        self.line += data.count(b"\n")
        return data


def _unreadable(error: Exception, gzipped: bool) -> str:
    detail = describe(error)
    if gzipped and isinstance(error, (EOFError, zlib.error, gzip.BadGzipFile)):
        return f"the gzip data is truncated or corrupt ({detail})"
    return f"the object cannot be read ({detail})"


def _transform_object(
    item: storage.StoredObject,
    destination: str,
    plan: Plan,
    invoker: Invoker,
    pool: ThreadPoolExecutor,
    progress: Progress,
) -> int:
    records_done = 0
    with storage.open_read(item.location) as raw:
        gzipped = plan.gzipped or item.location.endswith(".gz")
        source = _Input(gzip.GzipFile(fileobj=raw) if gzipped else raw, gzipped)
        header, first_line, leftover = _read_header(source, plan)
        with storage.open_write(destination) as out:
            if header is not None and plan.join_input:
                try:
                    header_line = _csv_line(
                        _apply(plan.output_filter, [*header, PREDICTION_COLUMN])
                    )
                except ValueError as error:
                    raise RecordFailure(1, f"the header row: {error}") from None
                out.write(header_line)
            window: deque[tuple[Batch, Future[tuple[int, str, bytes]]]] = deque()
            try:
                for batch in _batches(source, plan, first_line, leftover):
                    window.append((batch, pool.submit(invoker.invoke, batch.body)))
                    while len(window) > plan.concurrency:
                        records_done += _write_answer(*window.popleft(), out, plan, progress)
                while window:
                    records_done += _write_answer(*window.popleft(), out, plan, progress)
            except BaseException:
                for _, pending in window:
                    pending.cancel()
                raise
    return records_done


def _read_header(source: _Input, plan: Plan) -> tuple[list[str] | None, int, bytes]:
    """Take a CSV header row off the stream if there is one, and a UTF-8 BOM off the
    first line.

    Split records reach the server without their file's header, so a header is recognised
    here and not sent: a first line whose cells, after the input filter (what would be
    sent), are all Big Mart column names. At most about 2 x HEADER_LIMIT bytes are read.
    Returns the header as in the input, the number of the first line left, and what was
    read but belongs to the records (from the start of that line).
    """
    if not plan.split_lines:
        return None, 1, b""
    head = bytearray()
    while b"\n" not in head and len(head) <= HEADER_LIMIT:
        data = source.read(HEADER_LIMIT)
        if not data:
            break
        head += data
    text = strip_bom(bytes(head))
    end = text.find(b"\n")
    first = text if end < 0 else text[: end + 1]
    if plan.content_type == CSV and len(first) <= HEADER_LIMIT and first.strip():
        header = _header_cells(first, plan)
        if header is not None:
            return header, 2, text[len(first) :]
    return None, 1, text


def _header_cells(line: bytes, plan: Plan) -> list[str] | None:
    """The cells of ``line`` if it is a header row: what would be sent of it (after the
    input filter) is all Big Mart column names, so the server would not score it."""
    try:
        cells = _csv_cells(line.rstrip(b"\r\n"))
        sent = _apply(plan.input_filter, cells)
    except ValueError:  # not a header; the line fails as a record if it must
        return None
    if isinstance(sent, list) and all(isinstance(c, str) for c in sent) and is_header_row(sent):
        return cells
    return None


def _batches(source: _Input, plan: Plan, first_line: int, leftover: bytes) -> Iterator[Batch]:
    if not plan.split_lines:
        whole = strip_bom(leftover + _read_within(source, plan.payload_limit))
        if whole.strip():
            record = Record(1, whole, _filtered(1, whole, plan))
            yield Batch(record.payload, [1], [record] if plan.join_input else None)
        return
    if plan.per_record:
        limit = plan.payload_limit or UNBOUNDED_BLOCK
        lines = _numbered_lines(source, first_line, leftover, limit, plan)
        yield from _record_batches(lines, plan)
    else:
        yield from _block_batches(source, plan, first_line, leftover)


def _block_batches(source: _Input, plan: Plan, first_line: int, leftover: bytes) -> Iterator[Batch]:
    """MultiRecord batches cut from the raw bytes at line ends, as large as the payload
    limit allows: no per-record work in Python unless a block holds blank lines."""
    block = plan.payload_limit or UNBOUNDED_BLOCK
    buffer = bytearray(leftover)
    line = first_line
    at_end = False
    while True:
        while not at_end and len(buffer) < block:
            data = source.read(min(READ_SIZE, block - len(buffer) + 1))
            if not data:
                at_end = True
            buffer += data
        if not buffer:
            return
        if at_end and len(buffer) <= block:
            chunk = bytes(buffer)
            buffer.clear()
            if not chunk.endswith(b"\n"):
                if len(chunk) + 1 > block:  # the added line end must fit too
                    raise RecordFailure(line + chunk.count(b"\n"), _too_large(plan))
                chunk += b"\n"
        else:
            cut = buffer.rfind(b"\n", 0, block)
            if cut < 0:
                raise RecordFailure(line, _too_large(plan))
            with memoryview(buffer) as view:  # one copy of the block, not two
                chunk = bytes(view[: cut + 1])
            del buffer[: cut + 1]
        count = chunk.count(b"\n")
        if _BLANK_LINE.search(chunk) or chunk.startswith((b"\n", b"\r\n")):
            numbered = [
                (line + i, text.rstrip(b"\r"))
                for i, text in enumerate(chunk.split(b"\n")[:count])
                if text.strip()
            ]
            if numbered:
                yield Batch(b"".join(t + b"\n" for _, t in numbered), [n for n, _ in numbered])
        else:
            yield Batch(chunk, range(line, line + count))
        line += count


def _numbered_lines(
    source: _Input, first_line: int, leftover: bytes, limit: int, plan: Plan
) -> Iterator[tuple[int, bytes]]:
    """Non-blank lines with their 1-based numbers, line endings removed. A line longer
    than ``limit`` fails its object once ``limit + 1`` bytes of it have been read."""
    number = first_line
    unfinished = bytearray()  # the start of a line whose end is not read yet
    data = leftover
    while True:
        if not data:
            data = source.read(min(READ_SIZE, limit + 1 - len(unfinished)))
            if not data:
                break
        pieces = data.split(b"\n")
        data = b""
        if len(pieces) == 1:
            unfinished += pieces[0]
        else:
            if unfinished:
                pieces[0] = bytes(unfinished) + pieces[0]
            unfinished = bytearray(pieces.pop())
            for text in pieces:
                if len(text) > limit:
                    raise RecordFailure(number, _too_large(plan))
                text = text.rstrip(b"\r")
                if text.strip():
                    yield number, text
                number += 1
        if len(unfinished) > limit:
            raise RecordFailure(number, _too_large(plan))
    if unfinished.strip():
        yield number, bytes(unfinished).rstrip(b"\r")


def _read_within(source: _Input, limit: int | None) -> bytes:
    if limit is None:  # MaxPayloadInMB=0 and SplitType=None: the object is one request
        pieces = []
        while data := source.read(READ_SIZE):
            pieces.append(data)
        return b"".join(pieces)
    data = source.read(limit + 1)
    if len(data) > limit:
        raise RecordFailure(
            1,
            f"the object is over MaxPayloadInMB ({limit // MIB} MB) and "
            "SplitType is None; use SplitType=Line or a larger payload",
        )
    return data


def _record_batches(lines: Iterator[tuple[int, bytes]], plan: Plan) -> Iterator[Batch]:
    """Batches built record by record (input filter, join, SingleRecord)."""
    limit = plan.payload_limit
    records: list[Record] = []
    size = 0
    for number, text in lines:
        record = Record(number, text, _filtered(number, text, plan))
        cost = len(record.payload) + 1
        if limit is not None and cost > limit:
            raise RecordFailure(number, _too_large(plan))
        if records and (not plan.multi_record or (limit is not None and size + cost > limit)):
            yield _batch_of(records, plan)
            records, size = [], 0
        records.append(record)
        size += cost
    if records:
        yield _batch_of(records, plan)


def _batch_of(records: list[Record], plan: Plan) -> Batch:
    return Batch(
        body=b"".join(r.payload + b"\n" for r in records),
        lines=[r.line for r in records],
        records=records if plan.join_input else None,
    )


def _filtered(line: int, record: bytes, plan: Plan) -> bytes:
    """What is sent of a record; a record the input filter does not fit fails its line."""
    try:
        return _filter_input(record, plan)
    except (ValueError, TypeError) as error:  # orjson.JSONEncodeError is a TypeError
        raise RecordFailure(line, _unwritable(error)) from None


def _unwritable(error: Exception) -> str:
    if not isinstance(error, orjson.JSONEncodeError):  # a ValueError: a filter misfit
        return describe(error)
    if "recursion" in str(error).lower():
        return (
            f"the record cannot be written as JSON: it is nested deeper than 255 levels ({error})"
        )
    return f"the record cannot be written as JSON ({error})"


def _too_large(plan: Plan) -> str:
    if plan.payload_limit is None:
        return (
            f"a record is larger than {UNBOUNDED_BLOCK // MIB} MB, the most sent at once "
            "with MaxPayloadInMB=0"
        )
    return f"a record is larger than MaxPayloadInMB ({plan.payload_limit // MIB} MB)"


def _write_answer(
    batch: Batch,
    pending: Future[tuple[int, str, bytes]],
    out: IO[bytes],
    plan: Plan,
    progress: Progress,
) -> int:
    try:
        status, content_type, body = pending.result()
    except ConnectionError as error:
        raise RecordFailure(batch.lines[0], str(error)) from None
    if status != 200:
        raise _failure_from(batch, status, body)
    kind = media_type(content_type)
    if not plan.assemble_lines:
        out.write(body)
    elif not plan.split_lines:  # the whole object was one request: its answer is one output
        out.write(body if body.endswith(b"\n") else body + b"\n")
    elif not plan.join_input and plan.output_filter is None and kind in (CSV, JSON_LINES):
        count = body.count(b"\n") + (0 if body.endswith(b"\n") or not body else 1)
        _check_count(batch, count)
        out.write(body if body.endswith(b"\n") else body + b"\n")
    else:
        try:
            answers = _split_answers(body, kind)
        except ValueError as error:
            raise RecordFailure(batch.lines[0], f"the server's answer: {error}") from None
        _check_count(batch, len(answers))
        records: Sequence[Record | None] = batch.records or [None] * len(answers)
        for line, record, answer in zip(batch.lines, records, answers, strict=True):
            try:
                assembled = _assemble(record, answer, kind, plan)
            except (ValueError, TypeError) as error:  # too deep for JSON, a filter misfit
                raise RecordFailure(line, _unwritable(error)) from None
            out.write(assembled)
    progress.advance(len(batch.lines), len(batch.body))
    return len(batch.lines)


def _failure_from(batch: Batch, status: int, body: bytes) -> RecordFailure:
    try:
        detail = orjson.loads(body)
    except orjson.JSONDecodeError:
        detail = {"error": body[:300].decode("utf-8", "replace")}
    if not isinstance(detail, dict):
        detail = {"error": str(detail)}
    row = detail.get("row")
    inside = isinstance(row, int) and 1 <= row <= len(batch.lines)
    line = batch.lines[row - 1] if inside else batch.lines[0]  # type: ignore[operator]
    column = detail.get("column")
    where = f"column {column!r}: " if column else ""
    return RecordFailure(line, f"HTTP {status}: {where}{detail.get('error')}")


def _check_count(batch: Batch, answers: int) -> None:
    if answers != len(batch.lines):
        raise RecordFailure(
            batch.lines[0],
            f"the server answered {answers} records for a mini-batch of {len(batch.lines)} "
            f"(lines {batch.lines[0]}-{batch.lines[-1]}); nothing of this object is written",
        )


def _split_answers(body: bytes, kind: str) -> list[bytes]:
    if kind == JSON:
        document = orjson.loads(body)
        values = document.get("predictions", []) if isinstance(document, dict) else document
        return [orjson.dumps(v) for v in values]
    return body.splitlines()


def _assemble(record: Record | None, answer: bytes, kind: str, plan: Plan) -> bytes:
    """One output line: the answer, or the input record joined with it, then filtered."""
    if plan.content_type == CSV and kind == CSV:
        if record is None or not plan.join_input:
            return _csv_line(_apply(plan.output_filter, _csv_cells(answer)))
        if plan.output_filter is None:
            return record.raw + b"," + answer + b"\n"
        joined = _csv_cells(record.raw) + _csv_cells(answer)
        return _csv_line(_apply(plan.output_filter, joined))
    value = _json_value(answer)
    if record is not None and plan.join_input:
        document = _json_value(record.raw) if plan.content_type != CSV else _csv_cells(record.raw)
        if isinstance(document, dict):
            document = {**document, "SageMakerOutput": value}
        elif plan.content_type == CSV:
            document = [*document, value]
        else:  # SageMaker joins JSON only as an object: a new one holds both sides
            document = {"SageMakerInput": document, "SageMakerOutput": value}
        value = document
    return orjson.dumps(_apply(plan.output_filter, value)) + b"\n"


def _filter_input(line: bytes, plan: Plan) -> bytes:
    if plan.input_filter is None:
        return line
    if plan.content_type == CSV:
        return _csv_line(_apply(plan.input_filter, _csv_cells(line))).rstrip(b"\n")
    return orjson.dumps(_apply(plan.input_filter, _json_value(line)))


def _apply(step: Step | None, value: Any) -> Any:
    if step is None:
        return value
    try:
        return step(value)
    except JsonPathError as error:
        raise ValueError(f"filter: {error}") from None


def _json_value(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        text = data.decode("utf-8", "replace").strip()
        try:
            return float(text)
        except ValueError:
            return text


def _csv_cells(line: bytes) -> list[str]:
    try:
        return next(csv.reader([line.decode("utf-8", "replace")]), [])
    except csv.Error as error:
        raise ValueError(f"malformed CSV record: {error}") from None


def _csv_line(value: Any) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(value if isinstance(value, list) else [value])
    return buffer.getvalue().encode()
