"""``bigmart drift``'s numbers: a model's baseline against what its endpoint captured.

The model (folder or ``model.tar.gz``, local or S3) gives ``baseline.json``; the capture
files (``captures``) give the requests, decoded as ``serve`` decoded them; a ``DriftTally``
counts them on the baseline's bins. Memory holds the counts, one capture line and one
request's rows, whatever the number of rows read; ``max_rows`` bounds the time instead
(the newest hour folders are read first, so it keeps the latest rows).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bigmart.errors import UserError
from bigmart.local.captures import CaptureReader
from bigmart.local.model_location import opened_model_at
from bigmart.model.artifact import BASELINE_FILE, read_model
from bigmart.model.drift import BaselineError, DriftTally


class NoBaseline(UserError, LookupError):
    """A model trained before ``baseline.json`` existed."""


class NothingCaptured(UserError, LookupError):
    """No usable captured request where the user pointed."""


def read_baseline(model: str) -> dict[str, Any]:
    """The model's ``baseline.json`` (checked with the rest of the model)."""
    with opened_model_at(model) as folder:
        artifact = read_model(folder)
    if artifact.baseline is None:
        raise NoBaseline(
            f"model {model!r} predates baseline statistics (it has no {BASELINE_FILE}): "
            "train it again with this version of bigmart to compare captured data with it"
        )
    return artifact.baseline


def drift_report(
    model: str,
    capture: str,
    *,
    since: datetime | None = None,
    max_rows: int | None = None,
) -> dict[str, Any]:
    """The drift document (``model.drift`` plus what was read) of the requests captured
    under ``capture`` since ``since`` against ``model``'s baseline."""
    baseline = read_baseline(model)
    try:
        tally = DriftTally(baseline)
    except BaselineError as error:
        raise UserError(f"model {model!r}: {error}") from None
    reader = CaptureReader(capture, since=since)
    requests = answered = 0
    first: datetime | None = None
    last: datetime | None = None
    sources: dict[str, int] = {}
    truncated = False
    for request in reader.requests():
        if max_rows is not None and tally.rows >= max_rows:
            truncated = True
            break
        requests += 1
        if request.rows is not None:
            tally.add_rows(request.rows)
        if request.predictions is not None:
            answered += 1
            tally.add_predictions(request.predictions)
        first = request.at if first is None else min(first, request.at)
        last = request.at if last is None else max(last, request.at)
        sources[request.source] = sources.get(request.source, 0) + 1
    if not requests:
        raise NothingCaptured(_nothing(capture, since, reader))
    document = tally.document()
    document.update(
        model=model,
        capture=capture,
        since=_iso(since),
        created=_iso(datetime.now(UTC)),
        requests=requests,
        answered_requests=answered,
        first=_iso(first),
        last=_iso(last),
        truncated=truncated,
        max_rows=max_rows,
        sources=sources,
        read={
            "files": reader.files,
            "files_before_since": reader.files_before,
            "lines": reader.lines,
            "before_since": reader.skipped_before,
            "unreadable": reader.unreadable_count,
            "unreadable_lines": [
                {"file": u.file, "line": u.line, "reason": u.reason} for u in reader.unreadable
            ],
        },
    )
    return document


def _nothing(capture: str, since: datetime | None, reader: CaptureReader) -> str:
    after = f" since {_iso(since)}" if since is not None else ""
    if reader.unreadable:
        return (
            f"no readable captured request under {capture}{after}: "
            f"{reader.unreadable_count:,} unreadable line(s), the first {reader.unreadable[0]}"
        )
    if reader.skipped_before or reader.files_before:
        older = (
            f"{reader.skipped_before:,} older request(s)"
            if reader.skipped_before
            else f"{reader.files_before:,} older capture file(s)"
        )
        return f"no captured request under {capture}{after} ({older}); try an earlier --since"
    return (
        f"no captured request under {capture}{after} ({reader.files} capture file(s)); "
        "is data capture on for the endpoint (--capture-s3-uri), and has it been invoked?"
    )


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
