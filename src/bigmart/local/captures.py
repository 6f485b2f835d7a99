"""Captured requests read back: SageMaker's data-capture files, a local endpoint's or a
real one's (the same format), from a folder or an ``s3://`` prefix.

Files are ``<endpoint>/<variant>/yyyy/mm/dd/hh/*.jsonl`` under the capture destination, one
JSON record a line (``captureData.endpointInput/endpointOutput`` with ``observedContentType``,
``data`` and ``encoding`` CSV, JSON or BASE64; ``eventMetadata.inferenceTime``). A body is
decoded by ``codecs.decode``, the very decoder ``serve`` ran on it, so a captured request
yields the rows the model was given; an answer by ``codecs.decode_predictions``.

Everything streams: files are listed, then read one at a time, line by line (at most
``MAX_LINE_BYTES`` held), the newest hour folders first, so that a caller that stops after
enough rows has the latest ones. A line that cannot be read (not JSON, not a capture record,
a body the decoder refuses) is counted and kept as an ``Unreadable`` naming its file and
line (the first ``MAX_UNREADABLE_KEPT``), never raised: one bad line does not hide the rest.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Any

import numpy as np
import orjson

from bigmart.clipping import one_line
from bigmart.codecs import decode, decode_predictions
from bigmart.errors import UsageError, UserError
from bigmart.local import storage
from bigmart.schema import RawBatch

#: The longest capture line read. A line holds a request and its answer, each at most
#: SageMaker's 6 MB payload and a third more in BASE64: about 16 MB; anything longer is
#: counted unreadable without being held whole.
MAX_LINE_BYTES = 64 << 20
#: Unreadable lines kept with their file, line and reason (all are counted).
MAX_UNREADABLE_KEPT = 100
_CHUNK = 1 << 20
#: ``.../yyyy/mm/dd/hh/<file>.jsonl``: the hour folder SageMaker names by the invocation's hour.
_HOUR_FILE = re.compile(r"(?:^|/)(\d{4})/(\d{2})/(\d{2})/(\d{2})/([^/]+)$")
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
SINCE_FORMS = (
    "an ISO 8601 time (2024-05-01T13:00:00Z, 2024-05-01T15:00+02:00, 2024-05-01; "
    "no zone means UTC) or an age: a number and s, m, h, d or w (90m, 24h, 7d)"
)


@dataclass(frozen=True)
class CapturedRequest:
    """One captured invocation: its rows and answer (None when not captured)."""

    at: datetime
    rows: RawBatch | None
    predictions: np.ndarray | None
    source: str  # where its file is, up to the hour folders: <URI>/<endpoint>/<variant>


@dataclass(frozen=True)
class Unreadable:
    """A capture line that could not be used, and why."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}, line {self.line}: {self.reason}"


class UnreadableLine(ValueError):
    """Why one capture line was skipped (caught by the reader, never raised to callers)."""


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``--since``: an ISO 8601 time or an age before ``now`` (see ``SINCE_FORMS``), UTC."""
    now = now or datetime.now(UTC)
    age = _AGE.match(text)
    if age:
        return now - timedelta(seconds=float(age[1]) * _AGE_UNITS[age[2].lower()])
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"--since {text!r}: expected {SINCE_FORMS}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class CaptureReader:
    """The captured requests under one folder or prefix, with counts of what was read."""

    def __init__(self, location: str, *, since: datetime | None = None) -> None:
        self.location = location
        self.since = since
        self.files = 0  # files opened
        self.files_before = 0  # files not opened: their hour folder ended before since
        self.lines = 0  # non-blank lines seen
        self.skipped_before = 0  # records older than since
        self.unreadable_count = 0
        self.unreadable: list[Unreadable] = []

    def requests(self) -> Iterator[CapturedRequest]:
        """Every readable captured request at or after ``since``, newest files first."""
        for item in self._files():
            self.files += 1
            with storage.open_read(item.location) as stream:
                for number, line in numbered_lines(stream):
                    if line is not None and not line.strip():
                        continue
                    self.lines += 1
                    try:
                        if line is None:
                            raise UnreadableLine(
                                f"longer than {MAX_LINE_BYTES >> 20} MiB, not a capture record"
                            )
                        at, data = parse_envelope(line)
                        if self.since is not None and at < self.since:
                            self.skipped_before += 1
                            continue
                        request = parse_request(at, data, _source(item.location))
                    except UnreadableLine as error:
                        self._unreadable(item.location, number, str(error))
                        continue
                    yield request

    def _unreadable(self, file: str, line: int, reason: str) -> None:
        self.unreadable_count += 1
        if len(self.unreadable) < MAX_UNREADABLE_KEPT:
            self.unreadable.append(Unreadable(file, line, one_line(reason)))

    def _files(self) -> list[storage.StoredObject]:
        """The capture files to read, newest hour first; a file whose hour folder ended
        before ``since`` is not opened (SageMaker files a record under its hour)."""
        dated: list[tuple[datetime, str, storage.StoredObject]] = []
        others = []
        for item in storage.list_objects(self.location):
            if not item.relative.endswith(".jsonl") and item.location != self.location:
                continue  # not a capture file (unless named itself)
            found = _HOUR_FILE.search(item.relative)
            hour = _hour(found) if found else None
            if hour is None:
                others.append(item)
            elif self.since is None or hour + timedelta(hours=1) > self.since:
                # the name (MM-SS-mmm-<uuid>) orders files by their first record
                dated.append((hour, found[5] if found else "", item))
            else:
                self.files_before += 1
        dated.sort(key=lambda entry: entry[:2], reverse=True)
        return [item for *_, item in dated] + others


def _hour(found: re.Match[str]) -> datetime | None:
    try:
        return datetime(*(int(part) for part in found.groups()[:4]), tzinfo=UTC)
    except ValueError:  # folders named like a date that is none (month 13)
        return None


def _source(location: str) -> str:
    """The file's location up to its hour folders (``<URI>/<endpoint>/<variant>``)."""
    found = _HOUR_FILE.search(location)
    return location[: found.start()] if found else location.rsplit("/", 1)[0]


def numbered_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """The lines of ``stream`` (without their newline) and their 1-based numbers, read in
    chunks; a line longer than ``MAX_LINE_BYTES`` is given as None, never held whole."""
    pending = bytearray()
    too_long = False
    number = 0
    while chunk := stream.read(_CHUNK):
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            number += 1
            if not too_long and len(pending) + end - start <= MAX_LINE_BYTES:
                pending += chunk[start:end]
                yield number, bytes(pending)
            else:
                yield number, None
            pending.clear()
            too_long = False
            start = end + 1
        if not too_long:
            pending += chunk[start:]
            if len(pending) > MAX_LINE_BYTES:
                pending.clear()
                too_long = True
    if pending or too_long:
        yield number + 1, None if too_long else bytes(pending)


def parse_envelope(line: bytes) -> tuple[datetime, dict[str, Any]]:
    """A capture line's inference time (UTC) and ``captureData``, bodies not yet decoded."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        raise UnreadableLine(f"not JSON ({error})") from None
    if not isinstance(record, dict) or not isinstance(record.get("captureData"), dict):
        raise UnreadableLine("not a capture record: no captureData object")
    metadata = record.get("eventMetadata")
    moment = metadata.get("inferenceTime") if isinstance(metadata, dict) else None
    if not isinstance(moment, str):
        raise UnreadableLine("no eventMetadata.inferenceTime")
    try:
        at = datetime.fromisoformat(moment)
    except ValueError:
        raise UnreadableLine(f"eventMetadata.inferenceTime {moment!r} is not ISO 8601") from None
    return (at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)), record[
        "captureData"
    ]


def parse_request(at: datetime, data: dict[str, Any], source: str) -> CapturedRequest:
    """A record's ``captureData`` decoded as ``serve`` decoded the request (and its answer)."""
    sent, answer = data.get("endpointInput"), data.get("endpointOutput")
    if sent is None and answer is None:
        raise UnreadableLine("captureData has neither endpointInput nor endpointOutput")
    rows = None if sent is None else _decoded(sent, "endpointInput", decode)
    predictions = None if answer is None else _decoded(answer, "endpointOutput", decode_predictions)
    return CapturedRequest(at, rows, predictions, source)


def _decoded(part: Any, label: str, decoder: Callable[[bytes, str | None], Any]) -> Any:
    """One side of a capture record read by ``serve``'s own decoder; its refusal is an
    unreadable line naming the side."""
    body, content_type = _payload(part, label)
    try:
        return decoder(body, content_type)
    except UserError as error:
        raise UnreadableLine(f"{label}: {error}") from None


def _payload(payload: Any, where: str) -> tuple[bytes, str]:
    """A captured body's bytes and content type, whatever its encoding."""
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), str):
        raise UnreadableLine(f"{where}: no data string")
    encoding = str(payload.get("encoding", "")).upper()
    content_type = payload.get("observedContentType")
    content_type = content_type if isinstance(content_type, str) else ""
    if encoding in ("CSV", "JSON"):
        return payload["data"].encode("utf-8"), content_type
    if encoding == "BASE64":
        try:
            return base64.b64decode(payload["data"], validate=True), content_type
        except (binascii.Error, ValueError):
            raise UnreadableLine(f"{where}: data is not valid BASE64") from None
    raise UnreadableLine(
        f"{where}: encoding {payload.get('encoding')!r}: expected CSV, JSON or BASE64"
    )
