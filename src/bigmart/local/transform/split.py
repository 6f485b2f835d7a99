"""An input object split into records (SplitType) and the records packed into mini-batches
under the payload limit (BatchStrategy, MaxPayloadInMB); never across two objects.

Memory is bounded by the settings, not by the input: input is read in pieces, and a record
is refused once more than the payload limit of it has been read.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO

from bigmart.clipping import describe
from bigmart.codecs import CSV, is_header_row, strip_bom
from bigmart.contract import INPUT, LINE, MIB, BatchStrategy
from bigmart.data.physical_lines import GZIP_MAGIC
from bigmart.local.transform.filters import (
    apply_filter,
    csv_cells,
    filter_record,
    unwritable,
)
from bigmart.local.transform.plan import Plan

#: With MaxPayloadInMB=0 (unbounded), records are still sent in blocks of this size so that
#: memory stays flat; SageMaker streams such payloads in chunks too.
UNBOUNDED_BLOCK = 64 * MIB
#: Input is read in pieces of this size, so the buffer never holds much more than a batch.
READ_SIZE = MIB
#: A header row longer than this is not a header (and is not read whole to find out).
HEADER_LIMIT = 64 * 1024
_BLANK_LINE = re.compile(rb"\n[ \t\r]*\n")
LOOKS_GZIPPED = (
    "the object is not UTF-8 text: it looks gzip-compressed (it starts with bytes 1f 8b); "
    "use CompressionType=Gzip (--compression-type Gzip) or name it .gz"
)


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


class ObjectReader:
    """An object's bytes, read in pieces; a read that fails (a truncated or corrupt gzip
    stream, a broken S3 stream) fails the object, naming the line it was reading."""

    def __init__(self, stream: IO[bytes], gzipped: bool, text: bool = False) -> None:
        self.stream: IO[bytes] = gzip.GzipFile(fileobj=stream) if gzipped else stream
        self.gzipped = gzipped
        self.line = 1  # the line of the next byte
        self._check_gzip = text and not gzipped  # text read as it is: is it gzip after all?

    def read(self, size: int) -> bytes:
        try:
            data = self.stream.read(size)
        except Exception as error:
            raise RecordFailure(self.line, _unreadable(error, self.gzipped)) from None
        if self._check_gzip:
            self._check_gzip = False
            if data.startswith(GZIP_MAGIC):
                raise RecordFailure(1, LOOKS_GZIPPED)
        self.line += data.count(b"\n")
        return data


def _unreadable(error: Exception, gzipped: bool) -> str:
    detail = describe(error)
    if gzipped and isinstance(error, (EOFError, zlib.error, gzip.BadGzipFile)):
        return f"the gzip data is truncated or corrupt ({detail})"
    return f"the object cannot be read ({detail})"


def read_header(source: ObjectReader, plan: Plan) -> tuple[list[str] | None, int, bytes]:
    """Take a CSV header row off the stream if there is one, and a UTF-8 BOM off the
    first line.

    Split records reach the server without their file's header, so a header is recognised
    here and not sent: a first line whose cells, after the input filter (what would be
    sent), are all Big Mart column names. At most about 2 x HEADER_LIMIT bytes are read.
    Returns the header as in the input, the number of the first line left, and what was
    read but belongs to the records (from the start of that line).
    """
    if plan.split_type != LINE:
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
        cells = csv_cells(line.rstrip(b"\r\n"))
        sent = apply_filter(plan.input_filter, cells)
    except ValueError:  # not a header; the line fails as a record if it must
        return None
    if isinstance(sent, list) and all(isinstance(c, str) for c in sent) and is_header_row(sent):
        return cells
    return None


def batches(source: ObjectReader, plan: Plan, first_line: int, leftover: bytes) -> Iterator[Batch]:
    """The mini-batches of the rest of an object, in input order; ``first_line`` and
    ``leftover`` are what ``read_header`` left."""
    if plan.split_type != LINE:
        whole = strip_bom(leftover + _read_within(source, plan.max_payload_bytes))
        if whole.strip():
            record = Record(1, whole, _filtered(1, whole, plan))
            yield Batch(record.payload, [1], [record] if plan.join_source == INPUT else None)
        return
    if plan.per_record:
        limit = plan.max_payload_bytes or UNBOUNDED_BLOCK
        lines = _numbered_lines(source, first_line, leftover, limit, plan)
        yield from _record_batches(lines, plan)
    else:
        yield from _block_batches(source, plan, first_line, leftover)


def _block_batches(
    source: ObjectReader, plan: Plan, first_line: int, leftover: bytes
) -> Iterator[Batch]:
    """MultiRecord batches cut from the raw bytes at line ends, as large as the payload
    limit allows: no per-record work in Python unless a block holds blank lines."""
    block = plan.max_payload_bytes or UNBOUNDED_BLOCK
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
    source: ObjectReader, first_line: int, leftover: bytes, limit: int, plan: Plan
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


def _read_within(source: ObjectReader, limit: int | None) -> bytes:
    if limit is None:  # MaxPayloadInMB=0 and SplitType=None: the object is one request
        pieces = []
        while data := source.read(READ_SIZE):
            pieces.append(data)
        return b"".join(pieces)
    data = source.read(limit + 1)
    if len(data) > limit:
        raise RecordFailure(
            1,
            f"the object is over MaxPayloadInMB ({limit // MIB} MiB) and "
            "SplitType is None; use SplitType=Line or a larger payload",
        )
    return data


def _record_batches(lines: Iterator[tuple[int, bytes]], plan: Plan) -> Iterator[Batch]:
    """Batches built record by record (input filter, join, SingleRecord)."""
    limit = plan.max_payload_bytes
    multi_record = plan.batch_strategy == BatchStrategy.MULTI_RECORD
    keep_records = plan.join_source == INPUT
    records: list[Record] = []
    size = 0
    for number, text in lines:
        record = Record(number, text, _filtered(number, text, plan))
        cost = len(record.payload) + 1
        if limit is not None and cost > limit:
            raise RecordFailure(number, _too_large(plan))
        if records and (not multi_record or (limit is not None and size + cost > limit)):
            yield _batch_of(records, keep_records)
            records, size = [], 0
        records.append(record)
        size += cost
    if records:
        yield _batch_of(records, keep_records)


def _batch_of(records: list[Record], keep_records: bool) -> Batch:
    return Batch(
        body=b"".join(r.payload + b"\n" for r in records),
        lines=[r.line for r in records],
        records=records if keep_records else None,
    )


def _filtered(line: int, record: bytes, plan: Plan) -> bytes:
    """What is sent of a record; a record the input filter does not fit fails its line."""
    try:
        return filter_record(record, plan.input_filter, plan.content_type)
    except (ValueError, TypeError) as error:  # orjson.JSONEncodeError is a TypeError
        raise RecordFailure(line, unwritable(error)) from None


def _too_large(plan: Plan) -> str:
    """Why a record over the payload limit fails its object."""
    if plan.max_payload_bytes is None:
        return (
            f"a record is larger than {UNBOUNDED_BLOCK // MIB} MiB, the most sent at once "
            "with MaxPayloadInMB=0 (no payload limit)"
        )
    return f"a record is larger than MaxPayloadInMB ({plan.max_payload_bytes // MIB} MiB)"
