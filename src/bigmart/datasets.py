"""Reading Big Mart CSV files: one file, or every ``.csv``/``.csv.gz`` under a folder.

SageMaker copies an S3 prefix into the channel folder keeping the key tree, so a channel
may hold many files in sub-folders. Each file needs a header row; in Pipe mode the objects
arrive as one stream, and the headers of the second and later objects are skipped. Every
failure names the file, and where it can, the line and the column.
"""

from __future__ import annotations

import gzip
import itertools
import os
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from bigmart.physical_lines import PhysicalLines
from bigmart.schema import (
    FEATURES,
    TARGET,
    RawBatch,
    RowNumbering,
    SchemaError,
    parse_number,
    validate_columns,
)

CSV_SUFFIXES = (".csv", ".csv.gz")
DEFAULT_CHUNK_ROWS = 100_000


@dataclass
class LabelledData:
    """Features and target of a training or validation set, with where they came from."""

    features: RawBatch
    target: np.ndarray
    files: list[str]

    def __len__(self) -> int:
        return len(self.target)


def find_csv_files(path: str | os.PathLike[str]) -> list[Path]:
    """The CSV files at ``path``: the file itself, or every CSV below a folder, sorted.

    Hidden files (``.``-prefixed, as tools leave behind) are skipped. No file is an error.
    """
    root = Path(path)
    if root.is_file() or root.is_fifo():
        return [root]
    if not root.is_dir():
        raise SchemaError("no such file or folder", source=str(root))
    found, others = [], []
    for folder, subfolders, names in os.walk(root, followlinks=True):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in names:
            if not name.startswith("."):
                csv_file = name.lower().endswith(CSV_SUFFIXES)
                (found if csv_file else others).append(Path(folder) / name)
    if not found:
        raise SchemaError(_no_csv_files(root, others), source=str(root))
    return sorted(found)


def _no_csv_files(root: Path, others: list[Path]) -> str:
    """Why nothing was read, and the files that were there (Spark's part-00000, say)."""
    message = "no CSV files (*.csv or *.csv.gz) in this folder"
    if not others:
        return message
    shown = ", ".join(str(p.relative_to(root)) for p in sorted(others)[:5])
    more = f" and {len(others) - 5} more" if len(others) > 5 else ""
    return f"{message}; found {shown}{more}: name the data files *.csv or *.csv.gz"


def iter_csv_chunks(
    path: Path | IO[bytes],
    *,
    require_target: bool,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    source: str | None = None,
    gzipped: bool | None = None,
) -> Iterator[tuple[RawBatch, np.ndarray | None]]:
    """Stream one CSV file as validated chunks of at most ``chunk_rows`` rows.

    Yields ``(features, target)``; ``target`` is None unless ``require_target``. Memory is
    bounded by the chunk, not the file. ``gzipped`` None means: judge by the ``.gz`` suffix.
    Errors name the file's own line numbers, blank lines included.
    """
    name = source or str(path)
    if gzipped is None:
        gzipped = str(name).lower().endswith(".gz")
    with _opened(path, gzipped) as raw:
        lines = PhysicalLines(raw, name, gzipped)
        try:
            reader = pd.read_csv(
                lines,
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                chunksize=chunk_rows,
                encoding="utf-8",
            )
            first_record = 2  # record 1 is the header
            with reader:
                for frame in reader:
                    features, target = _validated(frame, first_record, require_target, lines)
                    if len(features[FEATURES[0]]):  # not a chunk of repeated headers only
                        yield features, target
                    first_record += len(frame)
                    lines.forget_before(first_record)
            if lines.error is not None:
                raise lines.error
            if first_record == 2:
                raise SchemaError("the file has a header row but no data rows", source=name)
        except pd.errors.EmptyDataError:
            raise lines.error or SchemaError(
                "the file is empty (expected a header row)", source=name
            ) from None
        except pd.errors.ParserError as error:
            if lines.error is not None and lines.ended_in_quotes:
                raise lines.error from None  # the cut at the bad byte left a quote open
            raise SchemaError(f"malformed CSV: {error}", source=name) from None
        except (gzip.BadGzipFile, zlib.error, EOFError) as error:
            raise SchemaError(
                f"unreadable gzip data: {error or 'truncated'}", source=name
            ) from None


def _validated(
    frame: pd.DataFrame, first_record: int, require_target: bool, lines: PhysicalLines
) -> tuple[RawBatch, np.ndarray | None]:
    """One chunk parsed and checked; an error names the file's line, not pandas' row.

    Rows that repeat the header are left out: a Pipe-mode channel is every S3 object of
    the prefix, one after another, each with its own header (so is ``cat a.csv b.csv``).
    """
    try:
        if first_record == 2:
            _check_header(frame, lines.source, require_target)
        parts = [
            _validated_rows(part, RowNumbering(lines.source, first_record + start), require_target)
            for start, part in _between_repeated_headers(frame)
        ]
    except SchemaError as error:
        if error.row is None:
            raise
        raise SchemaError(
            error.reason, source=error.source, row=lines.line_of(error.row), column=error.column
        ) from None
    if len(parts) == 1:
        return parts[0]
    targets = [target for _, target in parts if target is not None]
    return (
        concat_batches([features for features, _ in parts]),
        np.concatenate(targets) if require_target else None,
    )


def _validated_rows(
    frame: pd.DataFrame, numbering: RowNumbering, require_target: bool
) -> tuple[RawBatch, np.ndarray | None]:
    features = validate_columns({c: frame[c].to_numpy(dtype=object) for c in FEATURES}, numbering)
    target = None
    if require_target:
        target = _parse_target(frame[TARGET].to_numpy(dtype=object), numbering)
    return features, target


def _between_repeated_headers(frame: pd.DataFrame) -> list[tuple[int, pd.DataFrame]]:
    """The runs of rows between rows that repeat the header, with their offsets."""
    first = frame.columns[0]
    candidates = np.flatnonzero(frame[first].to_numpy(dtype=object) == first)  # cheap filter
    repeats = [
        int(i) for i in candidates if list(frame.iloc[int(i)]) == [str(c) for c in frame.columns]
    ]
    if not repeats:
        return [(0, frame)]
    bounds = [-1, *repeats, len(frame)]
    runs = [
        (start + 1, frame.iloc[start + 1 : end])
        for start, end in itertools.pairwise(bounds)
        if end > start + 1
    ]
    return runs or [(0, frame.iloc[0:0])]  # a chunk that is only a header: no rows


@contextmanager
def _opened(path: Path | IO[bytes], gzipped: bool) -> Iterator[IO[bytes]]:
    """The file's bytes, decompressed when ``gzipped``."""
    with ExitStack() as stack:
        raw: IO[bytes] = (
            stack.enter_context(open(path, "rb")) if isinstance(path, (str, os.PathLike)) else path
        )
        if gzipped:
            raw = stack.enter_context(gzip.open(raw, "rb"))
        yield raw


def read_labelled(path: str | os.PathLike[str], *, gzipped: bool | None = None) -> LabelledData:
    """Read every CSV at ``path`` (file or folder) with features and target, for training."""
    files = find_csv_files(path)
    feature_chunks: list[RawBatch] = []
    target_chunks: list[np.ndarray] = []
    for file in files:
        for features, target in iter_csv_chunks(file, require_target=True, gzipped=gzipped):
            assert target is not None
            feature_chunks.append(features)
            target_chunks.append(target)
    return LabelledData(
        features=concat_batches(feature_chunks),
        target=np.concatenate(target_chunks),
        files=[str(f) for f in files],
    )


def concat_batches(batches: list[RawBatch]) -> RawBatch:
    """Join batches row-wise, column by column."""
    joined: RawBatch = {}
    for name in FEATURES:
        parts = [b[name] for b in batches]
        if isinstance(parts[0], np.ndarray):
            joined[name] = np.concatenate(parts)
        else:
            joined[name] = [value for part in parts for value in part]
    return joined


def _check_header(frame: pd.DataFrame, source: str, require_target: bool) -> None:
    expected = [*FEATURES, TARGET] if require_target else list(FEATURES)
    missing = [c for c in expected if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"missing column(s) {', '.join(missing)} in the header row "
            f"(found: {', '.join(map(str, frame.columns))})",
            source=source,
            row=1,
        )


def _parse_target(values: np.ndarray, numbering: RowNumbering) -> np.ndarray:
    target = np.array(
        [parse_number(v, TARGET, numbering.first_row + i, numbering) for i, v in enumerate(values)],
        dtype=np.float64,
    )
    missing = np.flatnonzero(np.isnan(target))
    if missing.size:
        raise SchemaError(
            "the target is missing; every training row needs a sales figure",
            source=numbering.source,
            row=numbering.first_row + int(missing[0]),
            column=TARGET,
        )
    return target
