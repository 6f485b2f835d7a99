"""Request bodies to rows, predictions to response bodies: CSV, JSON and JSON Lines.

A decoder is a function from body bytes to a validated ``RawBatch``; the tables at the end
map content types to them. Every error is a ``SchemaError`` that names the row (1-based,
counting data rows only) and, where it can, the column or field; where no row can be named
(an empty body, invalid UTF-8, a JSON document broken before its rows), the byte offset.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import repeat
from typing import Any

import numpy as np
import orjson

from bigmart.clipping import clip
from bigmart.errors import UserError
from bigmart.schema import (
    FEATURES,
    TARGET,
    TRAINING_COLUMNS,
    RawBatch,
    RowNumbering,
    SchemaError,
    columns_from_records,
    columns_from_rows,
    validate_columns,
)

CSV = "text/csv"
JSON = "application/json"
JSON_LINES = "application/jsonlines"
#: Other names senders use for the same formats.
ALIASES = {
    "application/x-jsonlines": JSON_LINES,
    "application/jsonl": JSON_LINES,
    "application/x-ndjson": JSON_LINES,
    "application/json-lines": JSON_LINES,
    "text/plain": CSV,
    "application/csv": CSV,
}
KNOWN_COLUMNS = frozenset(TRAINING_COLUMNS)
#: Written first by Excel's "CSV UTF-8" and some Windows tools; never part of the data.
BOM = b"\xef\xbb\xbf"


class UnsupportedMediaType(UserError, ValueError):
    """A content type with no decoder (HTTP 415)."""

    status_code = 415


class NotAcceptable(UserError, ValueError):
    """An Accept header naming no format we write (HTTP 406)."""

    status_code = 406


def media_type(header: str | None, default: str = CSV) -> str:
    """The bare, lower-cased media type of a header value (parameters dropped)."""
    if not header:
        return default
    bare = header.split(";", 1)[0].strip().lower()
    return ALIASES.get(bare, bare) or default


# -- decoding -----------------------------------------------------------------------------


def decode(body: bytes, content_type: str | None) -> RawBatch:
    """A request body to a validated batch, by ``Content-Type`` (none given means CSV)."""
    kind = media_type(content_type)
    decoder = DECODERS.get(kind)
    if decoder is None:
        raise UnsupportedMediaType(
            f"Content-Type {kind!r} is not supported; send one of {', '.join(DECODERS)} "
            "in the Content-Type header (curl: -H 'Content-Type: text/csv')"
        )
    if not body.strip():
        raise _empty()
    return decoder(body)


def decode_csv(body: bytes) -> RawBatch:
    """CSV rows in the training file's column order, with or without the header row.

    A header (recognised by the column names) may list the columns in any order; without
    one, 11 columns are the features and 12 the training layout with the target last.
    Blank lines are skipped; quoting follows RFC 4180.
    """
    text = _utf8(body)
    plain = _plain_csv(text)
    if plain is not None:
        return plain[0]
    rows = _csv_rows(text)
    header = rows[0]
    if is_header_row(header):
        return _csv_with_header(header, rows[1:])
    return columns_from_rows(rows, RowNumbering(first_row=1))


def decode_batch_records(body: bytes, content_type: str | None) -> tuple[RawBatch | None, bool]:
    """A batch transform request: the batch (None if the body is only a CSV header row)
    and whether the body starts with a CSV header row, which SageMaker sends as a record
    and which must be answered by a line of its own to keep outputs aligned with inputs."""
    if media_type(content_type) != CSV:
        return decode(body, content_type), False
    if not body.strip():
        raise _empty()
    text = _utf8(body)
    plain = _plain_csv(text)
    if plain is not None:
        return plain
    rows = _csv_rows(text)
    if not is_header_row(rows[0]):
        return columns_from_rows(rows, RowNumbering(first_row=1)), False
    if len(rows) == 1:
        return None, True
    return _csv_with_header(rows[0], rows[1:]), True


def _empty() -> SchemaError:
    return SchemaError("the request body is empty; send at least one row", offset=0)


def _csv_rows(text: str) -> list[list[str]]:
    """The body's rows, blank lines skipped; malformed CSV names the row it starts in (0
    for a header row, as elsewhere) and the line where the reader gave up."""
    rows: list[list[str]] = []
    reader = csv.reader(io.StringIO(text), strict=True)
    try:
        rows.extend(row for row in reader if row)
    except csv.Error as error:
        row = len(rows) if rows and is_header_row(rows[0]) else len(rows) + 1
        raise SchemaError(
            f"malformed CSV: {error} (line {reader.line_num} of the body)", row=row
        ) from None
    if not rows:
        raise _empty()
    return rows


def _plain_csv(text: str) -> tuple[RawBatch, bool] | None:
    """The batch and whether a header row led it, split without a loop over rows; None
    leaves the body to the exact reader (``_csv_rows``), which names what is wrong.

    Taken only where a split on newlines and commas reads as ``csv.reader`` does: no
    quote or carriage return (but in CRLF), no line over ``csv.field_size_limit()``,
    every line (blank ones skipped) as wide as the first, and at least one data row under
    a header that names every feature. Cells are validated by the same
    ``validate_columns``, so a bad value gets the same error either way.
    """
    if '"' in text:
        return None
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if "\r" in text:
            return None
    lines = text.split("\n")
    if "" in lines:
        lines = [line for line in lines if line]
    if not lines:
        return None
    first = lines[0].split(",")
    width = len(first)
    header = is_header_row(first)
    if header:
        del lines[0]
        names = [cell.strip() for cell in first]
        if not lines or any(name not in names for name in FEATURES):
            return None
        index = {name: names.index(name) for name in FEATURES}
    elif width in (len(FEATURES), len(FEATURES) + 1):
        index = {name: i for i, name in enumerate(FEATURES)}
    else:
        return None
    if max(map(len, lines)) > csv.field_size_limit():
        return None
    if set(map(str.count, lines, repeat(","))) != {width - 1}:
        return None
    cells = ",".join(lines).split(",")
    columns = {name: cells[i::width] for name, i in index.items()}
    return validate_columns(columns, RowNumbering(first_row=1)), header


Loads = Callable[[bytes], Any]


def decode_json(body: bytes) -> RawBatch:
    """``{"instances": [...]}``, a bare list, one record, or pandas' split form
    ``{"columns": [...], "data": [[...]]}``. Instances are records (objects keyed by
    column) or lists in the training file's column order.

    Several such documents, one per line, are read in turn: batch transform joins records
    with newlines (SplitType Line, MultiRecord) whatever the content type.
    """
    return _naming_non_finite(_read_json, _blank_bom(body))


def _read_json(body: bytes, loads: Loads) -> RawBatch:
    try:
        document = loads(body)
    except json.JSONDecodeError as error:
        if _one_document_per_line(body, loads):
            return _instances(_documents(body, loads), "body")
        raise _malformed(body, error) from None
    if isinstance(document, Mapping):
        if "instances" in document:
            return _instances(document["instances"], "instances")
        if "data" in document and "columns" in document:
            return _split_form(document["columns"], document["data"])
        if any(key in KNOWN_COLUMNS for key in document):
            return columns_from_records([document])
        raise SchemaError(
            'expected {"instances": [...]}, {"columns": [...], "data": [...]}, '
            "a list of records, or one record keyed by column name"
        )
    return _instances(document, "body")


def decode_json_lines(body: bytes) -> RawBatch:
    """One record (object or list) per line, as batch transform sends MultiRecord batches."""
    return _naming_non_finite(_read_json_lines, _blank_bom(body))


def _read_json_lines(body: bytes, loads: Loads) -> RawBatch:
    instances = []
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            instances.append(loads(line))
        except json.JSONDecodeError as error:
            raise _malformed(body, error, line=number, row=len(instances) + 1) from None
    return _instances(instances, "lines")


DECODERS: dict[str, Callable[[bytes], RawBatch]] = {
    CSV: decode_csv,
    JSON: decode_json,
    JSON_LINES: decode_json_lines,
}


def _utf8(body: bytes) -> str:
    """The body as text, without a leading byte order mark; the error names the offset of
    the first byte that is not UTF-8, counted from the body's first byte (the mark's)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        line = body.count(b"\n", 0, error.start) + 1
        raise SchemaError(
            f"the body is not valid UTF-8 (byte {error.start}, line {line})", offset=error.start
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def strip_bom(data: bytes) -> bytes:
    """``data`` without a leading UTF-8 byte order mark, so that a header is recognised."""
    return data[3:] if data.startswith(BOM) else data


def _blank_bom(data: bytes) -> bytes:
    """JSON without a leading byte order mark: blanks in its place, so that the offsets
    an error names still count from the body's first byte."""
    return b"   " + data[3:] if data.startswith(BOM) else data


class MalformedJSON(SchemaError):
    """A body that is not JSON. ``non_finite``: refused only for a number JSON cannot
    hold (``NaN``, ``Infinity``, ``1e999``), which a second reading can place at its row
    and column (``_naming_non_finite``)."""

    def __init__(self, message: str, *, non_finite: bool = False, **where: Any) -> None:
        super().__init__(message, **where)
        self.non_finite = non_finite


def _malformed(
    body: bytes,
    error: json.JSONDecodeError,
    *,
    line: int | None = None,
    row: int | None = None,
) -> SchemaError:
    """orjson's error as a ``MalformedJSON`` naming the byte offset in ``body`` (and the
    row, if known), or invalid UTF-8 up to there as such. ``line``: the line of ``body``
    (as ``bytes.splitlines`` cuts) that was parsed alone."""
    if "utf-8" in error.msg.lower():
        _utf8(body)  # orjson does not say where: the first bad byte, with its offset
    text = error.doc if isinstance(error.doc, str) else ""
    start = 0 if line is None else sum(map(len, body.splitlines(keepends=True)[: line - 1]))
    offset = start + len(text[: error.pos].encode("utf-8", "surrogatepass"))
    if line is None:
        where = f"line {error.lineno}, column {error.colno}"
        message = f"malformed JSON: {error.msg} ({where})"
        row = _row_at(text, error.pos)
    else:
        message = f"malformed JSON on line {line}: {error.msg} (column {error.colno})"
    non_finite = "infinity" in error.msg or text.startswith(_NON_FINITE, error.pos)
    return MalformedJSON(message, non_finite=non_finite, row=row, offset=offset)


#: A JSON string, or one of the characters that give a document its shape.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},:]')
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')  # unrolled: fast on long bodies
#: Every byte but brackets, braces and commas.
_NOT_SHAPE = bytes(sorted(set(range(256)) - set(b"[]{},")))
#: The keys whose list holds the records (``{"instances": [...]}``, the split form's data).
_RECORD_KEYS = ('"instances"', '"data"')
#: How far into a document its records' list is looked for (a split form's column list
#: or a few other keys come first).
_RECORDS_WITHIN = 64 * 1024


def _row_at(text: str, position: int) -> int | None:
    """The row a position in a JSON document falls in, when it is inside the list of
    records (a bare list, or the list under ``instances`` or ``data``): one more than the
    commas between records before it. None anywhere else."""
    records = _records_start(text, position)
    if records is None:
        return None
    # The records' commas, counted without a Python loop over a body of many megabytes:
    # strings dropped (and one left open at the position), then all but brackets and commas.
    span = _JSON_STRING.sub("", text[records:position]).split('"', 1)[0]
    shape = np.frombuffer(span.encode().translate(None, _NOT_SHAPE), dtype=np.uint8)
    opens = (shape == ord("[")) | (shape == ord("{"))
    closes = (shape == ord("]")) | (shape == ord("}"))
    depth = np.cumsum(opens.astype(np.int64) - closes)  # 0: directly in the records' list
    if (depth < 0).any():
        return None  # past the records
    return 1 + int(np.count_nonzero((shape == ord(",")) & (depth == 0)))


def _records_start(text: str, position: int) -> int | None:
    """Where the records' list opens (just after its ``[``), if before ``position`` and
    within the first ``_RECORDS_WITHIN`` characters (a bound on this loop)."""
    depth = 0
    key = ""
    for match in _JSON_TOKEN.finditer(text, 0, min(position, _RECORDS_WITHIN)):
        token = match.group()
        if token in "[{":
            depth += 1
            if token == "[" and (depth == 1 or key in _RECORD_KEYS):
                return match.end()
        elif token in "]}":
            depth -= 1
        elif token != ":" and token != ",":
            key = token if depth == 1 else ""
    return None


#: The non-standard constants Python's ``json.dumps`` writes for float NaN and infinities.
_NON_FINITE = ("NaN", "Infinity", "-Infinity")


class _Literal(float):
    """A non-finite number as the body spelt it (``1e999``), so the refusal quotes it."""

    text: str

    def __new__(cls, text: str) -> _Literal:
        number = super().__new__(cls, float(text.replace("Infinity", "inf")))
        number.text = text
        return number

    def __str__(self) -> str:
        return self.text


def _loads_non_finite(data: bytes) -> Any:
    """JSON with ``NaN``, ``Infinity`` and out-of-range numbers read as ``_Literal``s."""

    def number(text: str) -> float:
        value = float(text)
        return value if math.isfinite(value) else _Literal(text)

    def integer(text: str) -> int | float:
        return int(text) if math.isfinite(float(text)) else _Literal(text)

    return json.loads(
        data.decode("utf-8"), parse_float=number, parse_int=integer, parse_constant=_Literal
    )


def _naming_non_finite(read: Callable[[bytes, Loads], RawBatch], body: bytes) -> RawBatch:
    """``read(body)``; a body that is not JSON only for a non-finite number is read again
    leniently, so the 400 names that number's row and column, as a CSV body's would. A
    non-finite number under a key that is not read is still refused: the body is not JSON."""
    try:
        return read(body, orjson.loads)
    except MalformedJSON as error:
        if not error.non_finite:
            raise
        try:
            read(body, _loads_non_finite)
        except SchemaError as named:
            raise named from None
        except (ValueError, RecursionError):  # broken elsewhere too, or nested past the
            pass  # standard library's depth (orjson's is deeper): orjson's error stands
        raise error from None


def _one_document_per_line(body: bytes, loads: Loads) -> bool:
    """Whether a body that is not one JSON document is several, one per line: its first
    line parses alone (a malformed pretty-printed document does not)."""
    first, _, rest = body.strip().partition(b"\n")
    if not rest.strip():
        return False
    try:
        loads(first)
    except ValueError:  # orjson's JSONDecodeError, or the lenient reader's
        return False
    return True


def _documents(body: bytes, loads: Loads) -> list[Any]:
    """Newline-separated JSON documents as one list of instances, rows numbered across."""
    instances: list[Any] = []
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            instances.extend(_document_instances(loads(line), len(instances) + 1))
        except json.JSONDecodeError as error:
            raise _malformed(body, error, line=number, row=len(instances) + 1) from None
        except SchemaError as error:
            raise SchemaError(
                f"line {number}: {error.reason}",
                row=error.row or len(instances) + 1,
                column=error.column,
            ) from None
    return instances


def _document_instances(document: Any, first_row: int) -> list[Any]:
    """The instances one document holds, read as ``decode_json`` reads a whole body."""
    if not isinstance(document, Mapping):
        return document if isinstance(document, list) else [document]
    if "instances" in document:
        instances = document["instances"]
        if not isinstance(instances, list):
            raise SchemaError(f"instances: expected a list of records, got {_kind(instances)}")
        return instances
    if "data" in document and "columns" in document:
        columns, data = document["columns"], document["data"]
        _check_split_form(columns, data, first_row)
        return [dict(zip(columns, row, strict=True)) for row in data]
    return [document]


def is_header_row(row: Sequence[str]) -> bool:
    """True if every cell is a Big Mart column name: the row is a header, not data."""
    return bool(row) and all(cell.strip() in KNOWN_COLUMNS for cell in row)


def _csv_with_header(header: Sequence[str], rows: Sequence[Sequence[str]]) -> RawBatch:
    names = [cell.strip() for cell in header]
    missing = [name for name in FEATURES if name not in names]
    if missing:
        raise SchemaError(f"the header row lacks column(s) {', '.join(missing)}", row=0)
    for number, row in enumerate(rows, start=1):
        if len(row) != len(names):
            raise SchemaError(
                f"expected {len(names)} columns as in the header row, got {len(row)}", row=number
            )
    return _by_name(names, rows)


def _instances(instances: Any, where: str) -> RawBatch:
    if not isinstance(instances, list):
        raise SchemaError(f"{where}: expected a list of records, got {_kind(instances)}")
    if not instances:
        raise SchemaError(f"{where}: the list of records is empty")
    if all(isinstance(item, Mapping) for item in instances):
        _check_known_keys(instances)
        return columns_from_records(instances, RowNumbering(first_row=1))
    if all(isinstance(item, list) for item in instances):
        return columns_from_rows(instances, RowNumbering(first_row=1))
    records = []
    for number, item in enumerate(instances, start=1):
        if isinstance(item, Mapping):
            records.append(item)
        elif isinstance(item, list):
            columns_from_rows([item], RowNumbering(first_row=number))  # checks the width
            records.append(dict(zip(FEATURES, item, strict=False)))
        else:
            raise SchemaError(
                f"expected a record (an object, or a list in column order), got {_kind(item)}",
                row=number,
            )
    _check_known_keys(records)
    return columns_from_records(records, RowNumbering(first_row=1))


def _check_known_keys(records: Sequence[Mapping[str, Any]]) -> None:
    """Refuse a record with no Big Mart column at all, which would otherwise be scored as
    all-missing with a confident 200 (unknown keys beside known ones stay ignored)."""
    if not any(map(KNOWN_COLUMNS.isdisjoint, records)):  # one C loop: the usual case
        return
    number = next(n for n, r in enumerate(records, start=1) if KNOWN_COLUMNS.isdisjoint(r))
    raise SchemaError(_no_column(records[number - 1]), row=number)


def _no_column(record: Mapping[str, Any]) -> str:
    keys = ", ".join(repr(key) for key in list(record)[:5]) or "none"
    by_lower = {name.lower(): name for name in TRAINING_COLUMNS}
    renamed = [f"{k!r} -> {by_lower[k.lower()]!r}" for k in record if k.lower() in by_lower]
    if renamed:
        hint = f"; column names are case-sensitive ({', '.join(renamed[:3])})"
    elif "instances" in record or "columns" in record:
        hint = "; a whole JSON document is application/json, not one JSON Lines record"
    else:
        hint = ""
    return (
        f"no Big Mart column found in the record (keys: {keys}){hint}; expected keys such "
        f"as {', '.join(FEATURES[:3])}, {FEATURES[5]}, {FEATURES[6]}"
    )


def _split_form(columns: Any, data: Any) -> RawBatch:
    _check_split_form(columns, data)
    return _by_name(columns, data)


def _check_split_form(columns: Any, data: Any, first_row: int = 1) -> None:
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise SchemaError('"columns" must be a list of column names')
    if not isinstance(data, list):
        raise SchemaError(f'"data" must be a list of rows, got {_kind(data)}')
    missing = [name for name in FEATURES if name not in columns]
    if missing:
        raise SchemaError(f'"columns" lacks {", ".join(missing)}')
    for number, row in enumerate(data, start=first_row):
        if not isinstance(row, list) or len(row) != len(columns):
            raise SchemaError(f"expected a list of {len(columns)} values", row=number)
    if not data:
        raise SchemaError('"data" is empty')


def _by_name(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> RawBatch:
    """Rows whose columns are named by ``names`` (any order, extras ignored) to a batch."""
    index = {name: names.index(name) for name in FEATURES}
    return validate_columns(
        {name: [row[i] for row in rows] for name, i in index.items()}, RowNumbering(first_row=1)
    )


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string"}.get(
        type(value), type(value).__name__
    )


# -- encoding -----------------------------------------------------------------------------


def format_predictions(predictions: np.ndarray) -> list[str]:
    """Predictions as text: the shortest decimal that reads back as the same float32.

    Both ``bigmart predict`` and the endpoint format through this, so their outputs are
    equal byte for byte.
    """
    return [str(value) for value in predictions.astype(np.float32)]


def encode_csv(predictions: np.ndarray) -> bytes:
    return "".join(f"{text}\n" for text in format_predictions(predictions)).encode()


def encode_json(predictions: np.ndarray) -> bytes:
    return f'{{"predictions":[{",".join(format_predictions(predictions))}]}}'.encode()


def encode_json_lines(predictions: np.ndarray) -> bytes:
    return "".join(f'{{"prediction":{t}}}\n' for t in format_predictions(predictions)).encode()


ENCODERS: dict[str, Callable[[np.ndarray], bytes]] = {
    CSV: encode_csv,
    JSON: encode_json,
    JSON_LINES: encode_json_lines,
}


def encode_after_header(predictions: np.ndarray, accept: str) -> bytes:
    """The answer to a batch that began with a CSV header row: one output line for it too.

    In CSV the header's line is the output column's name (``Item_Outlet_Sales``), so an
    output joined with its input keeps a header; in JSON and JSON Lines it is ``null``,
    the prediction of a line that is not a record.
    """
    texts = format_predictions(predictions)
    if accept == JSON:
        return f'{{"predictions":[{",".join(["null", *texts])}]}}'.encode()
    if accept == JSON_LINES:
        return b'{"prediction":null}\n' + encode_json_lines(predictions)
    return f"{TARGET}\n".encode() + encode_csv(predictions)


def decode_predictions(body: bytes, content_type: str | None) -> np.ndarray:
    """An answer written by the encoders above back to its predictions (float64), for
    reading captured responses: the inverse of ``ENCODERS`` and ``encode_after_header``,
    whose header line (``Item_Outlet_Sales`` or ``null``) is left out."""
    kind = media_type(content_type)
    text = _utf8(body)
    try:
        if kind == CSV:
            values: list[Any] = [
                line.strip() for line in text.splitlines() if line.strip() not in ("", TARGET)
            ]
        elif kind == JSON:
            document = orjson.loads(text)
            values = document.get("predictions") if isinstance(document, Mapping) else None
            if not isinstance(values, list):
                raise SchemaError('expected {"predictions": [...]}')
        elif kind == JSON_LINES:
            values = []
            for number, line in enumerate(text.splitlines(), start=1):
                if line.strip():
                    record = orjson.loads(line)
                    if not isinstance(record, Mapping) or "prediction" not in record:
                        raise SchemaError('expected {"prediction": ...}', row=number)
                    values.append(record["prediction"])
        else:
            raise UnsupportedMediaType(
                f"Content-Type {kind!r} is not an answer format; expected one of "
                f"{', '.join(ENCODERS)}"
            )
    except orjson.JSONDecodeError as error:
        raise SchemaError(f"malformed JSON: {error}") from None
    numbers = []
    for number, value in enumerate(values, start=1):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise SchemaError(f"expected a number, got {_kind(value)}", row=number)
        try:
            numbers.append(float(value))
        except ValueError:
            raise SchemaError(
                f"expected a number, got {clip(str(value), 40)!r}", row=number
            ) from None
    return np.asarray(numbers, dtype=np.float64)


def choose_accept(header: str | None) -> str:
    """The response format for an ``Accept`` header: the first listed (by quality) that we
    write; ``*/*``, ``text/*`` or no header gives CSV."""
    if not header or not header.strip():
        return CSV
    for candidate in _by_quality(header.split(",")):
        kind = media_type(candidate, default="")
        if kind in ("*/*", "*", "text/*"):
            return CSV
        if kind == "application/*":
            return JSON
        if kind in ENCODERS:
            return kind
    raise NotAcceptable(
        f"Accept {header.strip()!r} names no supported format; use one of {', '.join(ENCODERS)}"
    )


def _by_quality(items: Iterable[str]) -> list[str]:
    ranked = []
    for order, item in enumerate(items):
        quality = 1.0
        for parameter in item.split(";")[1:]:
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranked.append((-quality, order, item))
    return [item for _, _, item in sorted(ranked)]
