"""SageMaker's InputFilter and OutputFilter applied to one record: the record read as a value
(CSV cells or JSON), a compiled JSONPath step applied, and the value written back."""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson

from bigmart.clipping import describe
from bigmart.codecs import CSV
from bigmart.local.transform.jsonpath import JsonPathError, Step


def filter_record(record: bytes, step: Step | None, content_type: str) -> bytes:
    """What is sent of ``record`` (no line ending): the input filter's selection, written
    back in the record's own format. Raises ValueError (a misfit) or TypeError (not
    writable as JSON)."""
    if step is None:
        return record
    if content_type == CSV:
        return csv_line(apply_filter(step, csv_cells(record))).rstrip(b"\n")
    return orjson.dumps(apply_filter(step, json_value(record)))


def apply_filter(step: Step | None, value: Any) -> Any:
    """``step`` applied to ``value``; a filter that does not fit raises a ValueError."""
    if step is None:
        return value
    try:
        return step(value)
    except JsonPathError as error:
        raise ValueError(f"filter: {error}") from None


def json_value(data: bytes) -> Any:
    """A record or an answer as a JSON value; text that is not JSON is read as a number
    if it is one, else as a string."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        text = data.decode("utf-8", "replace").strip()
        try:
            return float(text)
        except ValueError:
            return text


def csv_cells(line: bytes) -> list[str]:
    """The cells of one CSV line; a malformed one raises a ValueError."""
    try:
        return next(csv.reader([line.decode("utf-8", "replace")]), [])
    except csv.Error as error:
        raise ValueError(f"malformed CSV record: {error}") from None


def csv_line(value: Any) -> bytes:
    """``value`` (a list of cells, or one cell) as one CSV line, with its line ending."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(value if isinstance(value, list) else [value])
    return buffer.getvalue().encode()


def unwritable(error: Exception) -> str:
    """Why a record could not be filtered or written, for its object's failure."""
    if not isinstance(error, orjson.JSONEncodeError):  # a ValueError: a filter misfit
        return describe(error)
    if "recursion" in str(error).lower():
        return (
            f"the record cannot be written as JSON: it is nested deeper than 255 levels ({error})"
        )
    return f"the record cannot be written as JSON ({error})"
