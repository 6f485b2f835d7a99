"""The Big Mart columns, their types, and validation that names the row and column at fault.

Everything downstream (featurizer, server, batch) receives a ``RawBatch``: one list or array
per column, numeric columns already parsed to float64 with NaN for a missing value. Parsing
lives here, once, so that a row read by pandas at training and the same row sent to the
endpoint become the very same floats.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bigmart.clipping import clip
from bigmart.errors import UserError

TARGET = "Item_Outlet_Sales"

#: The 11 feature columns, in the order of the training file.
FEATURES: tuple[str, ...] = (
    "Item_Identifier",
    "Item_Weight",
    "Item_Fat_Content",
    "Item_Visibility",
    "Item_Type",
    "Item_MRP",
    "Outlet_Identifier",
    "Outlet_Establishment_Year",
    "Outlet_Size",
    "Outlet_Location_Type",
    "Outlet_Type",
)
NUMERIC: frozenset[str] = frozenset(
    {"Item_Weight", "Item_Visibility", "Item_MRP", "Outlet_Establishment_Year"}
)
CATEGORICAL: tuple[str, ...] = tuple(c for c in FEATURES if c not in NUMERIC)
#: The training layout: the features, then the target.
TRAINING_COLUMNS: tuple[str, ...] = (*FEATURES, TARGET)

#: Text that means "no value" in a cell, as pandas and most exporters write it: the one
#: list, read the same way from a training file, a batch input and a request body of any
#: format (JSON also has null and an absent key). Other spellings of NaN (``NAN``, ``-nan``)
#: and of infinity are refused, not taken as missing.
MISSING_TEXT: frozenset[str] = frozenset({"", "NA", "N/A", "NaN", "nan", "NULL", "null", "None"})
#: The same but the empty field, in a fixed order for messages and the README.
MISSING_WORDS: tuple[str, ...] = tuple(sorted(MISSING_TEXT - {""}))


class SchemaError(UserError, ValueError):
    """Input that does not fit the Big Mart schema; the message says where and why."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        row: int | None = None,
        column: str | None = None,
        offset: int | None = None,
    ) -> None:
        self.reason = message
        self.source = source
        self.row = row
        self.column = column
        #: The byte offset in the body, where no row can be named (invalid UTF-8, say).
        self.offset = offset
        where = []
        if source is not None:
            where.append(str(source))
        if row is not None:
            where.append(f"line {row}" if source is not None else f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)

    def as_dict(self) -> dict[str, Any]:
        """The error as a JSON-friendly record (for HTTP bodies and batch reports)."""
        record: dict[str, Any] = {"error": self.reason}
        if self.source is not None:
            record["file"] = self.source
        if self.row is not None:
            record["row"] = self.row
        if self.column is not None:
            record["column"] = self.column
        if self.offset is not None:
            record["offset"] = self.offset
        return record


RawBatch = dict[str, Any]
"""Column name -> values. Numeric columns: float64 arrays (NaN = missing).
Categorical columns: sequences of ``str | None``."""


@dataclass(frozen=True)
class RowNumbering:
    """How to name a row in an error: the source and the number of its first row.

    A CSV file with a header counts its first data row as line 2; an HTTP body counts rows
    from 1.
    """

    source: str | None = None
    first_row: int = 1


def parse_number(value: Any, column: str, row: int, numbering: RowNumbering) -> float:
    """One cell to a float: missing text or None gives NaN; text that is not a number,
    or a non-finite number, is an error naming the row and column."""
    if value is None:
        return math.nan
    if isinstance(value, bool):
        raise SchemaError(
            f"expected a number, got {value!r}",
            source=numbering.source,
            row=row,
            column=column,
        )
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an int past float's range
            number = math.inf
    elif isinstance(value, str):
        text = value.strip()
        if text in MISSING_TEXT:
            return math.nan
        try:
            number = float(text)
        except ValueError:
            raise SchemaError(
                f"expected a number, got {clip(value)!r}",
                source=numbering.source,
                row=row,
                column=column,
            ) from None
    else:
        raise SchemaError(
            f"expected a number, got {type(value).__name__}",
            source=numbering.source,
            row=row,
            column=column,
        )
    if not math.isfinite(number):
        missing = (  # a number (JSON's) or text (CSV's, or a JSON string)
            "null"
            if isinstance(value, (int, float))
            else f"empty or one of {', '.join(MISSING_WORDS)}"
        )
        raise SchemaError(
            f"expected a finite number, got {clip(str(value))!r} (a missing value is {missing})",
            source=numbering.source,
            row=row,
            column=column,
        )
    return number


def parse_category(value: Any, column: str, row: int, numbering: RowNumbering) -> str | None:
    """One cell to a category label: text as given (trimmed), None for missing.

    Numbers are accepted and turned to text, since JSON senders often write years or codes
    as numbers; objects and lists are an error.
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        return None if text in MISSING_TEXT else text
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SchemaError(
            f"expected text, got {type(value).__name__}",
            source=numbering.source,
            row=row,
            column=column,
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise SchemaError(
            f"expected text, got the number {clip(str(value))}",
            source=numbering.source,
            row=row,
            column=column,
        )
    return str(value)


def columns_from_rows(
    rows: Sequence[Sequence[Any]],
    numbering: RowNumbering = RowNumbering(),
) -> RawBatch:
    """Rows given in the training file's column order (11 features, or 12 with the target
    last, which is ignored) to a validated ``RawBatch``."""
    width = len(FEATURES)
    for offset, row in enumerate(rows):
        if len(row) not in (width, width + 1):
            raise SchemaError(
                f"expected {width} columns ({', '.join(FEATURES)}) or {width + 1} with "
                f"{TARGET} last, got {len(row)}",
                source=numbering.source,
                row=numbering.first_row + offset,
            )
    by_column = {name: [row[index] for row in rows] for index, name in enumerate(FEATURES)}
    return validate_columns(by_column, numbering)


def columns_from_records(
    records: Sequence[Mapping[str, Any]],
    numbering: RowNumbering = RowNumbering(),
) -> RawBatch:
    """Records keyed by column name to a validated ``RawBatch``.

    A missing key is a missing value (the featurizer fills it); an unknown key is ignored,
    so that a record carrying the target or an id still scores.
    """
    return validate_columns(
        {name: [record.get(name) for record in records] for name in FEATURES}, numbering
    )


def validate_columns(columns: Mapping[str, Sequence[Any]], numbering: RowNumbering) -> RawBatch:
    """Parse every feature column of a column mapping; the error names the first bad cell."""
    missing = [name for name in FEATURES if name not in columns]
    if missing:
        raise SchemaError(
            f"missing column(s) {', '.join(missing)}; expected {', '.join(FEATURES)}",
            source=numbering.source,
        )
    batch: RawBatch = {}
    for name in FEATURES:
        values = columns[name]
        if name in NUMERIC:
            batch[name] = _numeric_column(values, name, numbering)
        else:
            batch[name] = _category_column(values, name, numbering)
    return batch


def _numeric_column(values: Sequence[Any], name: str, numbering: RowNumbering) -> np.ndarray:
    """Parse a numeric column; the common cases (every cell a plain number, or text that
    is a finite number or missing) without a loop over cells, anything else cell by cell
    so that the error names the cell."""
    try:
        array = np.array(values, dtype=np.float64)
    except (ValueError, TypeError):
        array = None
    if (
        array is not None
        and array.ndim == 1
        and _all_finite(array)
        and not any(value is True or value is False for value in values)
    ):
        return array
    parsed = _text_numbers(values) if array is None else None
    if parsed is not None:
        return parsed
    first = numbering.first_row
    return np.array(
        [parse_number(v, name, first + i, numbering) for i, v in enumerate(values)],
        dtype=np.float64,
    )


def _text_numbers(values: Sequence[Any]) -> np.ndarray | None:
    """A column of text cells (as CSV gives) parsed as ``parse_number`` would, once per
    distinct cell: a column repeats its values (years, weights) and its missing text. None
    if a cell is not text, not a finite number and not missing text."""
    if not all(type(value) is str for value in values):
        return None
    parsed: dict[str, float] = {}
    for value in set(values):
        text = value.strip()
        if text in MISSING_TEXT:
            parsed[value] = math.nan
            continue
        try:
            number = float(text)
        except ValueError:
            return None
        if not math.isfinite(number):
            return None
        parsed[value] = number
    return np.fromiter(map(parsed.__getitem__, values), dtype=np.float64, count=len(values))


def _all_finite(array: np.ndarray) -> bool:
    # A request is often one row, where numpy's reduction costs more than a Python loop.
    if len(array) < 32:
        return all(map(math.isfinite, array.tolist()))
    return bool(np.isfinite(array).all())


def _category_column(values: Sequence[Any], name: str, numbering: RowNumbering) -> list[str | None]:
    try:
        texts = list(map(str.strip, values))  # TypeError unless every cell is text
    except TypeError:
        first = numbering.first_row
        return [parse_category(v, name, first + i, numbering) for i, v in enumerate(values)]
    if MISSING_TEXT.isdisjoint(texts):
        return texts
    return [None if text in MISSING_TEXT else text for text in texts]
