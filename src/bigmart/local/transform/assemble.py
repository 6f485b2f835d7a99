"""The server's answers written back as output (AssembleWith), joined with their input
records (JoinSource) and filtered (OutputFilter); an answer that does not fit its
mini-batch fails the object, naming the line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO

import orjson

from bigmart.codecs import CSV, JSON, media_type
from bigmart.contract import INPUT, LINE
from bigmart.local.transform.filters import (
    apply_filter,
    csv_cells,
    csv_line,
    json_value,
    unwritable,
)
from bigmart.local.transform.plan import Plan
from bigmart.local.transform.split import Batch, Record, RecordFailure

#: Name of the prediction column when a joined CSV output keeps the input's header row.
PREDICTION_COLUMN = "prediction"


def joined_header(header: list[str], plan: Plan) -> bytes:
    """The header row of a joined CSV output: the input's, then the prediction column,
    through the output filter."""
    try:
        return csv_line(apply_filter(plan.output_filter, [*header, PREDICTION_COLUMN]))
    except ValueError as error:
        raise RecordFailure(1, f"the header row: {error}") from None


def write_answer(batch: Batch, answer: tuple[int, str, bytes], out: IO[bytes], plan: Plan) -> None:
    """Write the output of ``batch`` from the server's ``(status, content type, body)``.

    As SageMaker assembles it: each answer's body as it is, followed by a line end with
    AssembleWith=Line (unless it ends with one), or concatenated with AssembleWith=None. A
    join or an output filter needs one value per record, so then the body is decoded and
    each record written on its own line. Either way the body is decoded enough to count
    its records against the mini-batch: nothing is lost or doubled.
    """
    status, content_type, body = answer
    if status != 200:
        raise _failure_from(batch, status, body)
    kind = media_type(content_type)
    if plan.split_type != LINE:  # the whole object was one request: one output
        out.write(_assembled(body, plan))
    elif plan.join_source != INPUT and plan.output_filter is None:
        _check_count(batch, _answer_count(batch, body, kind))
        out.write(_assembled(body, plan))
    else:
        answers = _decoded(batch, body, kind)
        _check_count(batch, len(answers))
        records: Sequence[Record | None] = batch.records or [None] * len(answers)
        for line, record, one in zip(batch.lines, records, answers, strict=True):
            try:
                assembled = _assemble(record, one, kind, plan)
            except (ValueError, TypeError) as error:  # too deep for JSON, a filter misfit
                raise RecordFailure(line, unwritable(error)) from None
            out.write(assembled)


def _assembled(body: bytes, plan: Plan) -> bytes:
    """One answer's body as AssembleWith puts it in the output."""
    if plan.assemble_with != LINE or body.endswith(b"\n"):
        return body
    return body + b"\n"


def _answer_count(batch: Batch, body: bytes, kind: str) -> int:
    """How many records an answer holds: its lines, or a JSON document's predictions."""
    if kind == JSON:
        return len(_decoded(batch, body, kind))
    return body.count(b"\n") + (0 if body.endswith(b"\n") or not body else 1)


def _decoded(batch: Batch, body: bytes, kind: str) -> list[bytes]:
    try:
        return _split_answers(body, kind)
    except ValueError as error:
        raise RecordFailure(batch.lines[0], f"the server's answer: {error}") from None


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
        values = document.get("predictions") if isinstance(document, dict) else document
        if not isinstance(values, list):
            raise ValueError('expected {"predictions": [...]} or a JSON list')
        return [orjson.dumps(v) for v in values]
    return body.splitlines()


def _assemble(record: Record | None, answer: bytes, kind: str, plan: Plan) -> bytes:
    """One output line: the answer, or the input record joined with it, then filtered."""
    if plan.content_type == CSV and kind == CSV:
        if record is None or plan.join_source != INPUT:
            return csv_line(apply_filter(plan.output_filter, csv_cells(answer)))
        if plan.output_filter is None:
            return record.raw + b"," + answer + b"\n"
        joined = csv_cells(record.raw) + csv_cells(answer)
        return csv_line(apply_filter(plan.output_filter, joined))
    value = json_value(answer)
    if record is not None and plan.join_source == INPUT:
        document = json_value(record.raw) if plan.content_type != CSV else csv_cells(record.raw)
        if isinstance(document, dict):
            document = {**document, "SageMakerOutput": value}
        elif plan.content_type == CSV:
            document = [*document, value]
        else:  # SageMaker joins JSON only as an object: a new one holds both sides
            document = {"SageMakerInput": document, "SageMakerOutput": value}
        value = document
    return orjson.dumps(apply_filter(plan.output_filter, value)) + b"\n"
