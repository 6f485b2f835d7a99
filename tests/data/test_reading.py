import gzip
import io
import logging
import os
import shutil
import threading
from pathlib import Path

import pytest

from bigmart.data import synthetic as synth
from bigmart.data.reading import DEFAULT_CHUNK_ROWS, find_csv_files, iter_csv_chunks, read_labelled
from bigmart.schema import SchemaError


def test_reads_every_csv_and_csv_gz_below_a_folder_recursively(tmp_path: Path):
    synth.write_csv(tmp_path / "a.csv", 30, seed=1)
    synth.write_csv(tmp_path / "2013" / "b.csv.gz", 20, seed=2)
    (tmp_path / "notes.txt").write_text("not data")
    (tmp_path / ".hidden.csv").write_text("garbage")
    files = find_csv_files(tmp_path)
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["2013/b.csv.gz", "a.csv"]
    assert len(read_labelled(tmp_path)) == 50


def test_real_training_file_reads_with_its_quirks(real_train_csv: Path):
    data = read_labelled(real_train_csv)
    assert len(data) == 8523
    assert sum(v is None for v in data.features["Outlet_Size"]) == 2410
    assert int((data.features["Item_Weight"] != data.features["Item_Weight"]).sum()) == 1463


def _csv(tmp_path: Path, text: str, name: str = "train.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _real_lines(real_train_csv: Path, count: int) -> list[str]:
    return real_train_csv.read_text().splitlines()[: count + 1]


def test_missing_column_names_file_and_column(tmp_path, real_train_csv):
    lines = _real_lines(real_train_csv, 3)
    header = lines[0].split(",")
    keep = [i for i, name in enumerate(header) if name != "Item_MRP"]
    text = "\n".join(",".join(line.split(",")[i] for i in keep) for line in lines)
    path = _csv(tmp_path, text)
    with pytest.raises(SchemaError) as error:
        read_labelled(path)
    assert "Item_MRP" in str(error.value) and str(path) in str(error.value)


def test_text_in_numeric_column_names_file_line_and_column(tmp_path, real_train_csv):
    lines = _real_lines(real_train_csv, 5)
    cells = lines[4].split(",")
    cells[3] = "lots"
    lines[4] = ",".join(cells)
    path = _csv(tmp_path, "\n".join(lines))
    with pytest.raises(SchemaError) as error:
        read_labelled(path)
    assert (error.value.source, error.value.row, error.value.column) == (
        str(path),
        5,
        "Item_Visibility",
    )


def test_missing_target_names_line(tmp_path, real_train_csv):
    lines = _real_lines(real_train_csv, 3)
    lines[2] = lines[2].rsplit(",", 1)[0] + ","
    with pytest.raises(SchemaError) as error:
        read_labelled(_csv(tmp_path, "\n".join(lines)))
    assert (error.value.row, error.value.column) == (3, "Item_Outlet_Sales")


def test_empty_file(tmp_path):
    path = _csv(tmp_path, "")
    with pytest.raises(SchemaError, match="empty") as error:
        read_labelled(path)
    assert error.value.source == str(path)


def test_header_without_rows(tmp_path, real_train_csv):
    with pytest.raises(SchemaError, match="no data rows"):
        read_labelled(_csv(tmp_path, _real_lines(real_train_csv, 0)[0] + "\n"))


def test_no_files_in_folder(tmp_path):
    with pytest.raises(SchemaError, match=r"no CSV files \(\*.csv or \*.csv.gz\) in this folder$"):
        read_labelled(tmp_path)


def test_a_folder_without_csv_names_what_it_holds(tmp_path):
    (tmp_path / "out").mkdir()
    for name in ("part-00000", "part-00001", "_SUCCESS", ".part-00000.crc"):
        (tmp_path / "out" / name).write_text("x")
    with pytest.raises(SchemaError) as error:
        read_labelled(tmp_path)
    assert error.value.reason == (
        "no CSV files (*.csv or *.csv.gz) in this folder; found out/_SUCCESS, out/part-00000, "
        "out/part-00001: name the data files *.csv or *.csv.gz"
    )


def test_unreadable_gzip_names_file(tmp_path, real_train_csv):
    path = tmp_path / "train.csv.gz"
    path.write_bytes(b"this is not gzip at all")
    with pytest.raises(SchemaError, match="gzip") as error:
        read_labelled(path)
    assert error.value.source == str(path)


def test_truncated_gzip_is_refused(tmp_path, real_train_csv):
    whole = gzip.compress(real_train_csv.read_bytes())
    path = tmp_path / "train.csv.gz"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(SchemaError, match="gzip"):
        read_labelled(path)


def test_ragged_row_names_the_line(tmp_path, real_train_csv):
    lines = _real_lines(real_train_csv, 4)
    lines[3] += ",extra,cells"
    with pytest.raises(SchemaError, match="line 4"):
        read_labelled(_csv(tmp_path, "\n".join(lines)))


def test_gzipped_copy_reads_the_same(tmp_path, real_train_csv):
    path = tmp_path / "train.csv.gz"
    with open(real_train_csv, "rb") as src, gzip.open(path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert len(read_labelled(path)) == 8523


def _with_text_in_mrp(line: str) -> str:
    cells = line.split(",")
    cells[5] = "expensive"
    return ",".join(cells)


def _first_error(data: bytes, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> SchemaError:
    with pytest.raises(SchemaError) as error:
        for _ in iter_csv_chunks(
            io.BytesIO(data), require_target=True, chunk_rows=chunk_rows, source="train.csv"
        ):
            pass
    return error.value


@pytest.mark.parametrize("chunk_rows", [1, 3, 1000])
def test_line_numbers_count_blank_and_whitespace_only_lines(real_train_csv, chunk_rows):
    lines = _real_lines(real_train_csv, 20)
    lines[12] = _with_text_in_mrp(lines[12])  # line 13 of the file as written
    lines[4:4] = ["", "   ", "\t", " \r"]  # pandas skips all four
    error = _first_error("\n".join(lines).encode(), chunk_rows)
    assert (error.row, error.column) == (17, "Item_MRP")


def test_line_numbers_count_blank_lines_before_the_header(real_train_csv):
    lines = _real_lines(real_train_csv, 5)
    lines[3] = _with_text_in_mrp(lines[3])
    lines[0] = "\r\n\n" + lines[0]  # the header is on line 3
    assert _first_error("\n".join(lines).encode()).row == 4 + 2
    lines[0] = lines[0].replace("Item_MRP", "Item_Price")
    assert _first_error("\n".join(lines).encode()).row == 3


def test_line_numbers_count_the_lines_of_a_quoted_field(real_train_csv):
    lines = _real_lines(real_train_csv, 20)
    cells = lines[3].split(",")
    cells[2] = '"Low\n\nFat"'  # a quoted field over three lines; its blank line is data
    lines[3] = ",".join(cells)
    lines[9] = _with_text_in_mrp(lines[9])
    error = _first_error("\n".join(lines).encode(), chunk_rows=4)
    assert (error.row, error.column) == (12, "Item_MRP")


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
def test_latin1_byte_names_the_line_and_the_byte(tmp_path, real_train_csv, gzipped):
    text = real_train_csv.read_bytes()
    lines = text.split(b"\n")
    column = lines[3999].index(b",") + 2
    lines[3999] = lines[3999][:column] + b"\xe9" + lines[3999][column:]  # line 4000
    path = tmp_path / ("train.csv.gz" if gzipped else "train.csv")
    data = b"\n".join(lines)
    path.write_bytes(gzip.compress(data) if gzipped else data)
    with pytest.raises(SchemaError) as error:
        read_labelled(path)
    assert (error.value.source, error.value.row) == (str(path), 4000)
    file_offset = len(b"\n".join(lines[:3999])) + 1 + column
    assert f"byte 0xe9 at offset {column} of the line (offset {file_offset} of" in str(error.value)


def test_an_earlier_bad_value_is_reported_before_a_later_bad_byte(real_train_csv):
    lines = _real_lines(real_train_csv, 20)
    lines[5] = _with_text_in_mrp(lines[5])
    data = "\n".join(lines).encode()
    data = data.replace(b"\n", b"\xe9\n").replace(b"\xe9\n", b"\n", 6)  # lines 7 to 21
    error = _first_error(data)
    assert (error.row, error.column) == (6, "Item_MRP")


def test_a_bad_byte_in_the_header_or_at_the_very_end_is_named(real_train_csv):
    lines = "\n".join(_real_lines(real_train_csv, 3)).encode()
    assert _first_error(b"\xff" + lines).row == 1
    truncated = _first_error(lines + b"\n\xe2\x82")  # a cut-off 3-byte character
    assert truncated.row == 5 and "byte 0xe2 at offset 0 of the line" in str(truncated)


@pytest.mark.parametrize("chunk_rows", [1, 4, 1000])
def test_objects_streamed_one_after_another_skip_the_repeated_headers(real_train_csv, chunk_rows):
    lines = _real_lines(real_train_csv, 13)
    header, rows = lines[0], lines[1:]
    stream = "\n".join([header, *rows[:5], header, *rows[5:], header, *rows[:2]]) + "\n"
    chunks = list(
        iter_csv_chunks(io.BytesIO(stream.encode()), require_target=True, chunk_rows=chunk_rows)
    )
    assert all(len(features["Item_Identifier"]) for features, _ in chunks)
    identifiers = [i for features, _ in chunks for i in features["Item_Identifier"]]
    assert identifiers == [row.split(",")[0] for row in [*rows, *rows[:2]]]
    targets = [t for _, target in chunks for t in target]
    assert targets == pytest.approx([float(row.split(",")[-1]) for row in [*rows, *rows[:2]]])


def test_after_a_repeated_header_errors_still_name_the_line(real_train_csv):
    lines = _real_lines(real_train_csv, 10)
    lines[8] = _with_text_in_mrp(lines[8])
    lines[4:4] = [lines[0]]  # a second object's header on line 5; the bad row is on line 10
    for chunk_rows in (1, 3, 1000):
        error = _first_error("\n".join(lines).encode(), chunk_rows)
        assert (error.row, error.column) == (10, "Item_MRP")


def _channel_with_two_files(tmp_path: Path) -> Path:
    """A channel folder holding 30 + 20 rows in two real files."""
    channel = tmp_path / "channel"
    synth.write_csv(channel / "a.csv", 30, seed=1)
    synth.write_csv(channel / "2013" / "b.csv", 20, seed=2)
    return channel


def _relative(files: list[Path], root: Path) -> list[str]:
    return [f.relative_to(root).as_posix() for f in files]


def test_a_link_loop_is_walked_once(tmp_path, caplog):
    channel = _channel_with_two_files(tmp_path)
    (channel / "2013" / "again").symlink_to("..", target_is_directory=True)
    assert _relative(find_csv_files(channel), channel) == ["2013/b.csv", "a.csv"]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="bigmart.data.reading"):
        assert len(read_labelled(channel)) == 50
    skipped = [r.getMessage() for r in caplog.records]
    assert len(skipped) == 1 and "2013/again" in skipped[0] and "already read" in skipped[0]


def test_a_latest_link_to_the_channel_itself_does_not_double_the_data(tmp_path, caplog):
    channel = _channel_with_two_files(tmp_path)
    (channel / "latest").symlink_to(".", target_is_directory=True)
    with caplog.at_level(logging.INFO, logger="bigmart.data.reading"):
        assert len(read_labelled(channel)) == 50
    assert sum("latest" in r.getMessage() for r in caplog.records) == 1


def test_a_second_link_to_a_file_reads_it_once_under_its_real_name(tmp_path, caplog):
    channel = _channel_with_two_files(tmp_path)
    (channel / "0-copy.csv").symlink_to("a.csv")
    (channel / "2013" / "same.csv").symlink_to(channel / "2013" / "b.csv")
    with caplog.at_level(logging.INFO, logger="bigmart.data.reading"):
        assert _relative(find_csv_files(channel), channel) == ["2013/b.csv", "a.csv"]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert any("0-copy.csv" in m and "a.csv" in m for m in messages)


def test_a_link_inside_the_data_to_a_file_outside_it_is_refused(tmp_path):
    channel = _channel_with_two_files(tmp_path)
    synth.write_csv(tmp_path / "elsewhere.csv", 10, seed=3)
    (channel / "2013" / "extra.csv").symlink_to(tmp_path / "elsewhere.csv")
    with pytest.raises(SchemaError) as error:
        read_labelled(channel)
    assert error.value.source == str(channel / "2013" / "extra.csv")
    assert str(tmp_path / "elsewhere.csv") in error.value.reason
    assert "outside" in error.value.reason


def test_a_link_to_a_folder_outside_the_data_is_refused(tmp_path):
    channel = _channel_with_two_files(tmp_path)
    (channel / "2013" / "up").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(SchemaError, match="outside"):
        read_labelled(channel)


def test_a_link_to_nothing_is_refused(tmp_path):
    channel = _channel_with_two_files(tmp_path)
    (channel / "gone.csv").symlink_to(tmp_path / "missing.csv")
    with pytest.raises(SchemaError, match="leads to nothing") as error:
        read_labelled(channel)
    assert error.value.source == str(channel / "gone.csv")


def test_links_at_the_top_of_a_channel_may_lead_anywhere(tmp_path):
    """The local backend links the user's file or folder into the channel instead of
    copying it; links inside that data are held to it."""
    data = _channel_with_two_files(tmp_path)
    (data / "latest").symlink_to(".", target_is_directory=True)
    synth.write_csv(tmp_path / "one.csv", 10, seed=4)
    channel = tmp_path / "input" / "data" / "training"
    channel.mkdir(parents=True)
    (channel / "channel").symlink_to(data, target_is_directory=True)
    (channel / "one.csv").symlink_to(tmp_path / "one.csv")
    (channel / "later").symlink_to(data, target_is_directory=True)
    assert _relative(find_csv_files(channel), channel) == [
        "channel/2013/b.csv",
        "channel/a.csv",
        "one.csv",
    ]
    assert len(read_labelled(channel)) == 60


def test_a_channel_folder_that_is_itself_a_link_is_read(tmp_path):
    data = _channel_with_two_files(tmp_path)
    (tmp_path / "link").symlink_to(data, target_is_directory=True)
    assert len(read_labelled(tmp_path / "link")) == 50


def test_a_headerless_training_file_says_the_header_row_is_missing(tmp_path, real_train_csv):
    path = _csv(tmp_path, "\n".join(_real_lines(real_train_csv, 3)[1:]))
    with pytest.raises(SchemaError) as error:
        read_labelled(path)
    assert (error.value.source, error.value.row) == (str(path), 1)
    assert error.value.reason.startswith("the file has no header row: its first line is data (")
    assert error.value.reason.endswith(
        "add the header Item_Identifier,Item_Weight,Item_Fat_Content,Item_Visibility,Item_Type,"
        "Item_MRP,Outlet_Identifier,Outlet_Establishment_Year,Outlet_Size,Outlet_Location_Type,"
        "Outlet_Type,Item_Outlet_Sales as its first line"
    )


def test_a_header_of_other_names_is_not_taken_for_a_data_row(tmp_path):
    path = _csv(tmp_path, ",".join(f"c{i}" for i in range(3)) + "\n1,2,3\n")
    with pytest.raises(SchemaError, match="missing column"):
        read_labelled(path)


def test_a_gzipped_pipe_without_compression_type_says_to_set_it(tmp_path, real_train_csv):
    """Pipe mode: the channel's FIFO has no name to change; CompressionType is the fix."""
    fifo = tmp_path / "training_0"
    os.mkfifo(fifo)
    packed = gzip.compress("\n".join(_real_lines(real_train_csv, 3)).encode())
    writer = threading.Thread(target=fifo.write_bytes, args=(packed,))
    writer.start()
    with pytest.raises(SchemaError) as error:
        read_labelled(fifo)
    writer.join(timeout=30)
    assert error.value.reason.endswith(
        "it looks gzip-compressed (it starts with bytes 1f 8b): "
        "set the channel's CompressionType to Gzip"
    )


def test_a_gzip_file_not_named_gz_says_it_looks_gzip_compressed(tmp_path, real_train_csv):
    path = tmp_path / "train.csv"
    path.write_bytes(gzip.compress("\n".join(_real_lines(real_train_csv, 3)).encode()))
    with pytest.raises(SchemaError) as error:
        read_labelled(path)
    assert (error.value.source, error.value.row) == (str(path), 1)
    assert error.value.reason.endswith(
        "it looks gzip-compressed (it starts with bytes 1f 8b): name it .gz"
    )
