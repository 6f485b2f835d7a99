import gzip
import shutil
from pathlib import Path

import pytest

from bigmart import synth
from bigmart.datasets import find_csv_files, read_labelled
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
    (tmp_path / "readme.md").write_text("x")
    with pytest.raises(SchemaError, match="no CSV files"):
        read_labelled(tmp_path)


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
