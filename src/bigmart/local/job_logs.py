"""A local job's log, kept as CloudWatch Logs keeps SageMaker's: events in streams in groups.

On SageMaker, a training job's ``train`` output goes to the log group
``/aws/sagemaker/TrainingJobs``, stream ``<job>/algo-1-<epoch>``; the SDK's ``fit()`` and
``transform(logs=True)`` follow it with DescribeLogStreams and GetLogEvents. Local jobs
write their lines here so the same calls can be answered from this machine: one JSON Lines
file per stream under ``<state>/logs/``, one ``{"t": <epoch ms>, "m": <message>}`` per
event, appended and flushed line by line so a reader sees a running job's log.

Reading follows GetLogEvents: ``startFromHead`` or a forward token reads on from a position,
otherwise the newest events; a token is ``f/<n>`` or ``b/<n>`` (an event's position), and
the forward token comes back unchanged when there is nothing new, which is how the SDK knows
to wait. Stream and group names from a request are checked before they touch a path.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from bigmart.contract import TRAINING_LOG_GROUP, TRANSFORM_LOG_GROUP
from bigmart.local.jobs import RequestRefused

LOG_GROUPS = (TRAINING_LOG_GROUP, TRANSFORM_LOG_GROUP)
#: GetLogEvents' default and largest page (CloudWatch also stops at 1 MB: see MAX_PAGE_BYTES).
MAX_EVENTS = 10_000
MAX_PAGE_BYTES = 1 << 20
#: A stream name as SageMaker makes them: ``<job name>/<host>-<epoch>``; no ``..``, no ``//``.
STREAM_NAME = re.compile(r"[A-Za-z0-9](-*[A-Za-z0-9]){0,62}(/[A-Za-z0-9][A-Za-z0-9._-]{0,127})?")
_TOKEN = re.compile(r"([fb])/(\d{1,18})")


class LogNotFound(RequestRefused):
    """No such log group or stream (CloudWatch's ResourceNotFoundException)."""


def training_stream(job_name: str, started: float) -> str:
    """The stream of a training job's one host, named as SageMaker names it."""
    return f"{job_name}/algo-1-{int(started)}"


def transform_stream(job_name: str, started: float) -> str:
    """The stream of a transform job's one instance (SageMaker: ``<job>/<instance id>``)."""
    return f"{job_name}/i-{int(started):x}"


class LogWriter:
    """Appends a job's log lines to its stream, one event each; usable as an ``Echo``."""

    def __init__(self, home: Path, group: str, stream: str) -> None:
        self.path = stream_path(home, group, stream)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self._lock = threading.Lock()  # the job's threads may log at once

    def __call__(self, message: str) -> None:
        line = json.dumps({"t": int(time.time() * 1000), "m": message}, ensure_ascii=False)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def __enter__(self) -> LogWriter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def stream_path(home: Path, group: str, stream: str) -> Path:
    """Where a stream's events are; a group or stream name outside the rules is refused
    (the name comes from a request, and must never reach another path)."""
    if group not in LOG_GROUPS:
        raise LogNotFound(f"The specified log group does not exist: {group!r}")
    if not STREAM_NAME.fullmatch(stream):
        raise LogNotFound(f"The specified log stream does not exist: {stream!r}")
    return home / "logs" / group.strip("/").replace("/", "_") / f"{stream}.jsonl"


def describe_log_streams(
    home: Path, group: str, prefix: str = "", *, descending: bool = False, limit: int = 50
) -> list[dict[str, Any]]:
    """The group's streams whose names start with ``prefix``, by name (DescribeLogStreams)."""
    folder = stream_path(home, group, "x").parent
    streams = []
    for path in sorted(folder.glob("*/*.jsonl")) if folder.is_dir() else []:
        name = f"{path.parent.name}/{path.name.removesuffix('.jsonl')}"
        if not name.startswith(prefix):
            continue
        stat = path.stat()
        first, last = _first_and_last_times(path)
        stream: dict[str, Any] = {
            "logStreamName": name,
            "creationTime": first or int(stat.st_mtime * 1000),
            "lastIngestionTime": int(stat.st_mtime * 1000),
            "storedBytes": stat.st_size,
        }
        if first is not None:
            stream.update(firstEventTimestamp=first, lastEventTimestamp=last)
        streams.append(stream)
    if descending:
        streams.reverse()
    return streams[: max(1, min(limit, 50))]


def get_log_events(
    home: Path,
    group: str,
    stream: str,
    *,
    start_from_head: bool = False,
    next_token: str | None = None,
    start_time: int | None = None,
    end_time: int | None = None,
    limit: int = MAX_EVENTS,
) -> dict[str, Any]:
    """A page of the stream's events with its forward and backward tokens (GetLogEvents).

    ``start_time`` is inclusive and ``end_time`` exclusive, in epoch milliseconds; positions
    count every event, so a token stays valid whatever the time window.
    """
    path = stream_path(home, group, stream)
    if not path.exists():
        raise LogNotFound("The specified log stream does not exist.")
    limit = max(1, min(limit, MAX_EVENTS))
    if next_token is not None:
        direction, position = _parse_token(next_token)
    else:
        direction, position = ("f", 0) if start_from_head else ("b", None)

    def in_window(event: dict[str, Any]) -> bool:
        return (start_time is None or event["timestamp"] >= start_time) and (
            end_time is None or event["timestamp"] < end_time
        )

    # Streamed, so memory is one page whatever the log's length.
    indexed = enumerate(_read(path))
    if direction == "f":
        forward = ((i, e) for i, e in indexed if i >= (position or 0) and in_window(e))
        page = _fit(itertools.islice(forward, limit))
    else:
        newest: deque[tuple[int, dict[str, Any]]] = deque(maxlen=limit)
        for index, event in indexed:
            if position is not None and index >= position:
                break
            if in_window(event):
                newest.append((index, event))
        page = _fit(reversed(newest))[::-1]
    end = position if position is not None else _count(path)
    first = page[0][0] if page else end
    after = page[-1][0] + 1 if page else end
    return {
        "events": [event for _, event in page],
        "nextForwardToken": f"f/{after}",
        "nextBackwardToken": f"b/{first}",
    }


def final_metrics(
    messages: Iterable[str], definitions: Sequence[Mapping[str, str]]
) -> dict[str, float]:
    """Each metric's last value in the log, read with the job's MetricDefinitions regexes
    (the first group of ``Regex``), as SageMaker fills FinalMetricDataList."""
    patterns = [(d["Name"], re.compile(d["Regex"])) for d in definitions]
    found: dict[str, float] = {}
    for message in messages:
        for name, pattern in patterns:
            match = pattern.search(message)
            if match:
                try:
                    found[name] = float(match.group(1))
                except (IndexError, ValueError):
                    continue
    return found


class MetricsCache:
    """``final_metrics`` of a stream, read again only when the stream has grown: a waiter or
    the SDK polls DescribeTrainingJob every few seconds, and a finished job's log no longer
    changes. Holds the last ``size`` streams read."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._found: dict[tuple[Path, str], tuple[tuple[int, int], dict[str, float]]] = {}
        self._lock = threading.Lock()

    def read(self, path: Path, definitions: Sequence[Mapping[str, str]]) -> dict[str, float]:
        stat = path.stat()
        version = (stat.st_size, stat.st_mtime_ns)
        key = (path, json.dumps(definitions, sort_keys=True))
        with self._lock:
            known = self._found.get(key)
        if known is not None and known[0] == version:
            return known[1]
        found = final_metrics(read_messages(path), definitions)
        with self._lock:
            self._found.pop(key, None)
            self._found[key] = (version, found)
            while len(self._found) > self.size:
                del self._found[next(iter(self._found))]
        return found


def read_messages(path: Path) -> Iterator[str]:
    """Every message of a stream's file, oldest first."""
    return (event["message"] for event in _read(path))


def _fit(pairs: Iterable[tuple[int, dict[str, Any]]]) -> list[tuple[int, dict[str, Any]]]:
    """The events up to about a megabyte, as CloudWatch pages (at least one)."""
    page: list[tuple[int, dict[str, Any]]] = []
    size = 0
    for index, event in pairs:
        size += len(event["message"].encode()) + 26
        if page and size > MAX_PAGE_BYTES:
            break
        page.append((index, event))
    return page


def _parse_token(token: str) -> tuple[str, int]:
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise RequestRefused(f"The specified nextToken is invalid: {token[:40]!r}")
    return match.group(1), int(match.group(2))


def _read(path: Path) -> Iterator[dict[str, Any]]:
    """The stream's events; a line cut short by a job still writing it is not yet one."""
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if not line.endswith("\n"):
                return
            try:
                record = json.loads(line)
                yield {
                    "timestamp": record["t"],
                    "message": record["m"],
                    "ingestionTime": record["t"],
                }
            except (ValueError, KeyError, TypeError):
                continue  # a damaged line is skipped, not fatal to reading the rest


def _count(path: Path) -> int:
    return sum(1 for _ in _read(path))


def _first_and_last_times(path: Path) -> tuple[int | None, int | None]:
    first = last = None
    for event in _read(path):
        first = event["timestamp"] if first is None else first
        last = event["timestamp"]
    return first, last
