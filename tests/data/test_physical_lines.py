"""The bounds on what training reads: a header, a line, a quoted record; File, gzip and Pipe."""

from __future__ import annotations

import gzip
import io

import pytest

from bigmart.data.physical_lines import BLOCK_BYTES, MAX_HEADER_BYTES, MAX_RECORD_BYTES
from bigmart.data.reading import iter_csv_chunks, read_labelled
from bigmart.schema import SchemaError

#: Reading a refused record may take one more block than the limit, and no more.
READ_BOUND = MAX_RECORD_BYTES + 2 * BLOCK_BYTES


class Endless(io.RawIOBase):
    """``prefix`` then ``size`` bytes of ``fill``, with no newline: counts what is read."""

    def __init__(self, prefix: bytes, size: int, fill: bytes = b"a") -> None:
        super().__init__()
        self._prefix = prefix
        self._left = size
        self._fill = fill
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        if self._prefix:
            size = min(len(buffer), len(self._prefix))
            buffer[:size] = self._prefix[:size]
            self._prefix = self._prefix[size:]
        else:
            size = min(len(buffer), self._left)
            buffer[:size] = self._fill * size
            self._left -= size
        self.read_bytes += size
        return size


def _first_error(stream: io.RawIOBase, source: str = "stream.csv") -> SchemaError:
    with pytest.raises(SchemaError) as error:
        for _ in iter_csv_chunks(stream, require_target=True, source=source, gzipped=False):
            pass
    return error.value


def _head(real_train_csv, rows: int) -> bytes:
    return b"".join(real_train_csv.read_bytes().splitlines(keepends=True)[: rows + 1])


def test_limits_are_far_above_a_big_mart_row_and_header(real_train_csv):
    header, row = real_train_csv.read_bytes().splitlines()[:2]
    assert len(header) * 100 < MAX_HEADER_BYTES < MAX_RECORD_BYTES
    assert len(row) * 1000 < MAX_RECORD_BYTES


def test_a_header_without_a_newline_is_refused_after_a_bounded_read():
    stream = Endless(b"", 16 * MAX_RECORD_BYTES)
    error = _first_error(stream)
    assert (error.source, error.row) == ("stream.csv", 1)
    assert "header" in error.reason and f"{MAX_HEADER_BYTES:,}" in error.reason
    assert stream.read_bytes <= READ_BOUND
    assert len(str(error)) < 400


def test_a_long_header_line_is_refused_even_with_rows_after_it(real_train_csv):
    header = b"Item_Identifier," + b"x" * (MAX_HEADER_BYTES + 10) + b"\n"
    error = _first_error(io.BytesIO(header + _head(real_train_csv, 5)))
    assert error.row == 1 and "header" in error.reason
    assert len(str(error)) < 400


def test_a_line_without_end_after_good_rows_is_refused_naming_its_line(real_train_csv):
    stream = Endless(_head(real_train_csv, 3), 16 * MAX_RECORD_BYTES)
    error = _first_error(stream)
    assert (error.source, error.row) == ("stream.csv", 5)
    assert f"{MAX_RECORD_BYTES:,} bytes" in error.reason
    assert stream.read_bytes <= READ_BOUND
    assert len(str(error)) < 400


def test_an_over_long_line_between_rows_is_refused_naming_its_line(real_train_csv):
    lines = real_train_csv.read_bytes().splitlines(keepends=True)
    data = b"".join([*lines[:4], b"x" * (MAX_RECORD_BYTES + 1) + b"\n", *lines[4:10]])
    error = _first_error(io.BytesIO(data))
    assert error.row == 5 and f"{MAX_RECORD_BYTES:,} bytes" in error.reason


def test_a_row_of_exactly_the_limit_is_read(real_train_csv):
    header, row = real_train_csv.read_bytes().splitlines(keepends=True)[:2]
    long_id = b"FDA15" + b"x" * (MAX_RECORD_BYTES - len(row))
    data = header + row.replace(b"FDA15", long_id, 1) + row
    assert len(data.splitlines(keepends=True)[1]) == MAX_RECORD_BYTES
    chunks = list(iter_csv_chunks(io.BytesIO(data), require_target=True, source="s"))
    assert sum(len(target) for _, target in chunks) == 2


def test_a_quote_that_never_closes_is_refused_naming_where_it_opened(real_train_csv):
    opened = b'FDA15,9.3,"Low Fat\n'
    stream = Endless(_head(real_train_csv, 3) + opened, 16 * MAX_RECORD_BYTES, fill=b"abc,\n")
    error = _first_error(stream)
    assert error.row == 5 and f"{MAX_RECORD_BYTES:,} bytes" in error.reason
    assert stream.read_bytes <= READ_BOUND


def test_rows_before_an_over_long_line_are_still_checked_first(real_train_csv):
    lines = real_train_csv.read_bytes().splitlines(keepends=True)
    bad_mrp = lines[2].split(b",")
    bad_mrp[5] = b"lots"
    stream = Endless(b"".join([lines[0], lines[1], b",".join(bad_mrp)]), 4 * MAX_RECORD_BYTES)
    error = _first_error(stream)
    assert (error.row, error.column) == (3, "Item_MRP")


def test_gzipped_file_with_one_endless_line_is_refused(tmp_path, real_train_csv):
    path = tmp_path / "big.csv.gz"
    with gzip.open(path, "wb", compresslevel=1) as handle:
        handle.write(_head(real_train_csv, 2))
        handle.write(b"z" * (8 * MAX_RECORD_BYTES))
    with pytest.raises(SchemaError) as error:
        read_labelled(path)
    assert (error.value.source, error.value.row) == (str(path), 4)
    assert f"{MAX_RECORD_BYTES:,} bytes" in error.value.reason


def test_the_list_of_found_columns_in_a_bad_header_is_clipped(tmp_path, real_train_csv):
    header = ",".join(f"column_{i:05}" for i in range(4000)) + "\n"
    path = tmp_path / "wide.csv"
    path.write_text(header + "1\n")
    with pytest.raises(SchemaError) as error:
        read_labelled(path)
    message = str(error.value)
    assert "missing column(s)" in message and "column_00000" in message
    assert len(message) < 1200 and "and 3,988 more" in message


def _outcome(data: bytes) -> tuple[int, int | None, str | None]:
    """Rows read, or the line and the start of the error."""
    rows = 0
    try:
        for _, target in iter_csv_chunks(io.BytesIO(data), require_target=True, source="s"):
            rows += len(target)
    except SchemaError as error:
        # The rows before an error are not always read: pandas stops at a quote the
        # stream leaves open.
        return -1, error.row, error.reason.split(" bytes")[0]
    return rows, None, None


@pytest.mark.parametrize("block", [1, 5, 64, 1000])
def test_limits_and_line_numbers_do_not_depend_on_where_blocks_end(
    real_train_csv, monkeypatch, block
):
    """Small blocks and limits put block ends inside quoted, blank and over-long lines."""
    header, *rows = real_train_csv.read_bytes().splitlines(keepends=True)[:12]
    assert b"Low Fat" in rows[0] and b"Low Fat" in rows[2]
    quoted = rows[0].replace(b"Low Fat", b'"Low\n\nFat"')  # 3 lines
    long_quoted = rows[2].replace(b"Low Fat", b'"Low' + b"\n  x" * 200 + b' Fat"')
    long_line = b"FDA15" + b"x" * 600 + rows[3]
    cases = {
        "fits": header + rows[0] + b"\n  \n" + quoted + rows[4] + b" \n" + rows[5],
        "quoted too long": header + rows[1] + b"\n" + quoted + long_quoted + rows[4],
        "line too long": header + quoted + b"\n\n" + long_line + rows[4],
        "header too long": header.replace(b"Item_MRP", b"Item_MRP" + b"_" * 300) + rows[0],
    }
    expected = {
        "fits": (4, None, None),
        "quoted too long": (-1, 7, "the row is longer than 500"),
        "line too long": (-1, 7, "the row is longer than 500"),
        "header too long": (-1, 1, "the header row is longer than 250"),
    }
    monkeypatch.setattr("bigmart.data.physical_lines.MAX_RECORD_BYTES", 500)
    monkeypatch.setattr("bigmart.data.physical_lines.MAX_HEADER_BYTES", 250)
    monkeypatch.setattr("bigmart.data.physical_lines.BLOCK_BYTES", block)
    for name, data in cases.items():
        assert _outcome(data) == expected[name], name
