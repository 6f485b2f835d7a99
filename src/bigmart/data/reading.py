"""Reading Big Mart CSV files: one file, or every ``.csv``/``.csv.gz`` under a folder.

SageMaker copies an S3 prefix into the channel folder keeping the key tree, so a channel
may hold many files in sub-folders. Each file needs a header row; in Pipe mode the objects
arrive as one stream, and the headers of the second and later objects are skipped. Every
failure names the file, and where it can, the line and the column.
"""

from __future__ import annotations

import gzip
import itertools
import logging
import os
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from bigmart.clipping import clip, clip_list
from bigmart.data.physical_lines import PhysicalLines
from bigmart.schema import (
    FEATURES,
    TARGET,
    RawBatch,
    RowNumbering,
    SchemaError,
    parse_number,
    validate_columns,
)

log = logging.getLogger(__name__)

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
    Each real file is read once, whatever links lead to it (see ``_FolderWalk``).
    """
    root = Path(path)
    if root.is_file() or root.is_fifo():
        return [root]
    if not root.is_dir():
        raise SchemaError("no such file or folder", source=str(root))
    walk = _FolderWalk(root)
    walk.run()
    if not walk.files:
        raise SchemaError(_no_csv_files(root, walk.others), source=str(root))
    return sorted(walk.files.values())


class _FolderWalk:
    """Every CSV file below a folder, each real file once, following links with care.

    SageMaker's File mode writes S3 objects as plain files, so links are the user's doing
    (or the local backend's, which links the user's file or folder into the channel rather
    than copying it). A link to a file or folder already found (a loop, ``latest -> .``,
    a second name for a file) is skipped with a log line: reading it again would weigh
    those rows twice. A link directly in the folder may lead anywhere, since that is how
    local data arrives; a link deeper down must stay inside the folders so reached. One
    that leads elsewhere, or to nothing, is refused rather than skipped: it would silently
    add or drop data, and the fix (copy the data in, or remove the link) is the user's.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[tuple[int, int], Path] = {}  # (device, inode) -> the name read
        self.others: list[Path] = []  # files that are not CSV
        self._bases = [Path(os.path.realpath(root))]  # where links may lead
        self._walked: dict[tuple[int, int], Path] = {}  # folders, by (device, inode)
        self._links: list[tuple[Path, bool]] = []  # links to follow: (link, at the top)

    def run(self) -> None:
        """Walk the real folders first, so a file is named by its own path, not a link."""
        self._walk(self.root, top=True)
        while self._links:
            self._follow(*self._links.pop(0))

    def _walk(self, folder: Path, *, top: bool) -> None:
        for here, subfolders, names in os.walk(folder):  # does not follow links
            at_top = top and here == str(folder)
            self._walked[_identity(here)] = Path(here)
            kept = []
            for name in sorted(subfolders):
                sub = Path(here, name)
                if name.startswith("."):
                    continue
                if sub.is_symlink():
                    self._links.append((sub, at_top))
                elif _identity(sub) in self._walked:  # reached through a link before
                    self._skip(sub, self._walked[_identity(sub)])
                else:
                    kept.append(name)
            subfolders[:] = kept
            for name in sorted(names):
                file = Path(here, name)
                if name.startswith("."):
                    continue
                if file.is_symlink():
                    self._links.append((file, at_top))
                else:
                    self._add(file)

    def _follow(self, link: Path, at_top: bool) -> None:
        target = Path(os.path.realpath(link))
        if not target.exists():
            raise SchemaError(
                f"a link that leads to nothing ({clip(os.readlink(link), 200)}): "
                "remove it or make it point to the data",
                source=str(link),
            )
        if not at_top and not any(target.is_relative_to(base) for base in self._bases):
            raise SchemaError(
                f"a link to {clip(str(target), 200)}, outside the data folder "
                f"{clip(str(self._bases[0]), 200)}: copy what it links to into the folder, "
                "or remove the link",
                source=str(link),
            )
        if not target.is_dir():
            self._add(link)
        elif _identity(target) in self._walked:
            self._skip(link, self._walked[_identity(target)])
        else:
            if at_top:
                self._bases.append(target)
            self._walk(link, top=False)

    def _add(self, file: Path) -> None:
        if not file.name.lower().endswith(CSV_SUFFIXES):
            self.others.append(file)
            return
        identity = _identity(file)
        if identity in self.files:
            self._skip(file, self.files[identity])
        else:
            self.files[identity] = file

    def _skip(self, path: Path, read_as: Path) -> None:
        kind = "folder" if path.is_dir() else "file"
        log.warning("skipping %s: the same %s as %s, already read", path, kind, read_as)


def _identity(path: str | os.PathLike[str]) -> tuple[int, int]:
    """What makes a file or folder itself, whatever the path (links, hard links, mounts)."""
    status = os.stat(path)
    return status.st_dev, status.st_ino


def _no_csv_files(root: Path, others: list[Path]) -> str:
    """Why nothing was read, and the files that were there (Spark's part-00000, say)."""
    message = "no CSV files (*.csv or *.csv.gz) in this folder"
    if not others:
        return message
    shown = clip_list([p.relative_to(root) for p in sorted(others)], each=80, shown=5)
    return f"{message}; found {shown}: name the data files *.csv or *.csv.gz"


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
            raise SchemaError(f"malformed CSV: {clip(str(error), 200)}", source=name) from None
        except (gzip.BadGzipFile, zlib.error, EOFError) as error:
            raise SchemaError(
                f"unreadable gzip data: {clip(str(error) or 'truncated', 200)}", source=name
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
    if missing and _first_line_is_data(list(frame.columns)):
        header = [*FEATURES, TARGET][: len(frame.columns)]
        raise SchemaError(
            f"the file has no header row: its first line is data "
            f"({clip_list(list(frame.columns), shown=4)}); add the header "
            f"{','.join(header)} as its first line",
            source=source,
            row=1,
        )
    if missing:
        raise SchemaError(
            f"missing column(s) {', '.join(missing)} in the header row "
            f"(found: {clip_list(list(frame.columns))})",
            source=source,
            row=1,
        )


def _first_line_is_data(cells: list[str]) -> bool:
    """A first line of 11 or 12 cells, none a Big Mart column name, is a row, not a header."""
    known = {*FEATURES, TARGET}
    fields = len(FEATURES)
    return len(cells) in (fields, fields + 1) and not any(str(c).strip() in known for c in cells)


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
