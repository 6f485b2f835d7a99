"""``bigmart predict`` as a user runs it: bad input, bad models and full disks are one line."""

from __future__ import annotations

import os
import resource
import signal
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from bigmart.model.archive import pack
from support.cli import BIGMART, bigmart


def test_predict_accepts_the_training_layout_with_target(tmp_path, trained_model, real_train_csv):
    result = bigmart(
        "predict",
        "--model",
        str(trained_model),
        "--input",
        str(real_train_csv),
        "--output",
        str(tmp_path / "out.csv"),
    )
    assert result.returncode == 0, result.stderr
    assert len((tmp_path / "out.csv").read_text().splitlines()) == 8523


def test_predict_bad_input_names_line_and_writes_nothing(tmp_path, trained_model, real_test_csv):
    lines = real_test_csv.read_text().splitlines()[:50]
    cells = lines[30].split(",")
    cells[5] = "n/a price"
    lines[30] = ",".join(cells)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines))
    result = bigmart(
        "predict",
        "--model",
        str(trained_model),
        "--input",
        str(bad),
        "--output",
        str(tmp_path / "out.csv"),
    )
    assert result.returncode == 2
    assert "line 31, column 'Item_MRP'" in result.stderr
    assert not (tmp_path / "out.csv").exists()
    assert list(tmp_path.glob(".*partial")) == []


def test_predict_names_the_line_of_the_file_after_blank_lines(
    tmp_path, trained_model, real_test_csv
):
    lines = real_test_csv.read_text().splitlines()[:50]
    cells = lines[30].split(",")
    cells[5] = "n/a price"
    lines[30] = ",".join(cells)
    lines[10:10] = ["", "   "]  # pandas skips both; the bad row is now on line 33
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines))
    output = tmp_path / "out.csv"
    result = bigmart(
        "predict", "--model", str(trained_model), "--input", str(bad), "--output", str(output)
    )
    assert result.returncode == 2
    assert "line 33, column 'Item_MRP'" in result.stderr
    assert not output.exists()


def test_predict_refuses_a_folder_as_input_or_output_before_any_work(tmp_path, real_test_csv):
    folder = tmp_path / "folder"
    folder.mkdir()
    missing_model = str(tmp_path / "no-model")  # checked later: the paths come first
    for args, message in [
        (("--input", str(folder), "--output", "p.csv"), f"--input {str(folder)!r} is a folder"),
        (
            ("--input", str(real_test_csv), "--output", str(folder)),
            f"--output {str(folder)!r} is a folder",
        ),
        (
            ("--input", str(tmp_path / "nothing.csv"), "--output", "p.csv"),
            f"--input {str(tmp_path / 'nothing.csv')!r} does not exist",
        ),
    ]:
        result = bigmart("predict", "--model", missing_model, *args, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith(f"bigmart: error: {message}"), result.stderr
        assert len(result.stderr.splitlines()) == 1
    assert list(folder.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]


def test_predict_names_an_s3_model_uri_as_given(tmp_path, env, real_test_csv):
    result = subprocess.run(
        [BIGMART, "predict", "--model", "s3://bucket/models/model.tar.gz", "--input",
         str(real_test_csv), "--output", str(tmp_path / "p.csv")],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == (
        "bigmart: error: --model 's3://bucket/models/model.tar.gz' does not exist "
        "(give the model.tar.gz's URI)\n"
    )
    assert not (tmp_path / "p.csv").exists()


# -- a bad model or a full disk is one line, never a traceback (issue 10, items 3 and 6) --


def _small_input(tmp_path: Path, real_test_csv: Path, rows: int = 5) -> Path:
    path = tmp_path / "input.csv"
    path.write_bytes(b"".join(real_test_csv.read_bytes().splitlines(keepends=True)[: rows + 1]))
    return path


def _bad_model(kind: str, tmp_path: Path, trained_model: Path) -> tuple[Path, str]:
    """A model of the given kind of badness, and what the one line must say about it."""
    from bigmart.model.archive import pack
    from bigmart.model.artifact import read_model, write_model

    if kind == "missing":
        return tmp_path / "no-such-model", "is neither a folder nor a file"
    if kind == "corrupt":
        archive = pack(trained_model, tmp_path / "model.tar.gz")
        data = archive.read_bytes()
        archive.write_bytes(data[:200] + bytes(b ^ 0xFF for b in data[200:2000]) + data[2000:])
        return archive, "not a readable model archive"
    if kind == "truncated":
        archive = pack(trained_model, tmp_path / "model.tar.gz")
        archive.write_bytes(archive.read_bytes()[:-5000])
        return archive, "not a readable model archive"
    if kind == "tampered":
        artifact = read_model(trained_model)
        artifact.featurizer["state"]["categories_"]["Outlet_Type"].reverse()
        write_model(artifact, tmp_path / "model")  # checksums recomputed: only the probe sees
        return tmp_path / "model", "self-check failed"
    assert kind == "symlink"
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        link = tarfile.TarInfo("model.onnx")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    return archive, "member 'model.onnx' is a symlink"


@pytest.mark.parametrize("kind", ["missing", "corrupt", "truncated", "tampered", "symlink"])
def test_predict_with_a_bad_model_is_one_line(tmp_path, trained_model, real_test_csv, kind):
    model, says = _bad_model(kind, tmp_path, trained_model)
    output = tmp_path / "out" / "predictions.csv"
    result = bigmart(
        "predict",
        "--model",
        str(model),
        "--input",
        str(_small_input(tmp_path, real_test_csv)),
        "--output",
        str(output),
    )
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("bigmart: error: --model: ") and says in result.stderr, (
        result.stderr
    )
    assert not output.exists()


def _file_size_limit(limit: int):  # type: ignore[no-untyped-def]
    """For a child process: files may not grow past ``limit`` bytes, and a write that
    would fails with EFBIG rather than killing the process, as a full disk fails a write."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_predict_to_a_full_disk_is_one_line_naming_the_output(
    tmp_path, trained_model, real_test_csv
):
    output = tmp_path / "out" / "predictions.csv"
    result = subprocess.run(
        [
            BIGMART,
            "predict",
            "--model",
            str(trained_model),  # a folder: nothing is unpacked, the output is the only write
            "--input",
            str(real_test_csv),
            "--output",
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        preexec_fn=_file_size_limit(4096),
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr == (
        f"bigmart: error: cannot write --output {str(output)!r}: File too large\n"
    )
    assert list(output.parent.iterdir()) == []  # no output, no temporary file left


def test_predict_when_the_disk_fills_says_so_in_one_line(
    tmp_path, trained_model, real_test_csv, monkeypatch, capsys
):
    import contextlib
    import errno

    from bigmart.cli import main as cli
    from bigmart.local import predict as batch_predict

    class FullDisk:
        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    @contextlib.contextmanager
    def full(*args, **kwargs):  # type: ignore[no-untyped-def]
        yield FullDisk()

    monkeypatch.setattr(batch_predict, "replacing", full)
    output = tmp_path / "predictions.csv"
    with pytest.raises(SystemExit) as exited:
        cli.main(
            [
                "predict",
                "--model",
                str(trained_model),
                "--input",
                str(_small_input(tmp_path, real_test_csv)),
                "--output",
                str(output),
            ]
        )
    assert exited.value.code == 1
    assert capsys.readouterr().err == (
        f"bigmart: error: cannot write --output {str(output)!r}: No space left on device\n"
    )


def test_predict_refuses_an_output_that_is_not_a_regular_file(tmp_path, real_test_csv):
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)  # replacing it by a rename would destroy it (as it would /dev/full)
    result = bigmart(
        "predict", "--model", "m", "--input", str(real_test_csv), "--output", str(pipe)
    )
    assert result.returncode == 2
    assert result.stderr == (
        f"bigmart: error: --output {str(pipe)!r} is not a regular file (a device or a "
        "pipe?); give the path of the CSV file to write\n"
    )
    assert stat.S_ISFIFO(pipe.stat().st_mode)


# -- issue 15: a headerless file, a gzip file without .gz, S3 input and output --


def test_predict_on_a_headerless_file_says_the_header_row_is_missing(
    tmp_path, trained_model, real_test_csv
):
    headerless = tmp_path / "rows.csv"
    headerless.write_bytes(b"".join(real_test_csv.read_bytes().splitlines(keepends=True)[1:6]))
    result = bigmart(
        "predict", "--model", str(trained_model), "--input", str(headerless),
        "--output", str(tmp_path / "p.csv"),
    )  # fmt: skip
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(
        f"bigmart: error: {headerless}, line 1: the file has no header row: its first line "
        "is data ("
    )
    assert "add the header Item_Identifier,Item_Weight," in result.stderr
    assert result.stderr.rstrip().endswith("Outlet_Type as its first line")


def test_predict_on_a_gzip_file_not_named_gz_says_it_looks_gzip_compressed(
    tmp_path, trained_model, real_test_csv
):
    import gzip

    packed = tmp_path / "rows.csv"
    packed.write_bytes(gzip.compress(_small_input(tmp_path, real_test_csv).read_bytes()))
    result = bigmart(
        "predict", "--model", str(trained_model), "--input", str(packed),
        "--output", str(tmp_path / "p.csv"),
    )  # fmt: skip
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert f"{packed}, line 1: not UTF-8 text: byte 0x8b" in result.stderr
    assert result.stderr.rstrip().endswith(
        "it looks gzip-compressed (it starts with bytes 1f 8b): name it .gz"
    )


def test_predict_reads_and_writes_s3(tmp_path, env, trained_model, real_test_csv):
    from support.aws_server import REGION
    from support.remote import moto_client

    s3 = moto_client(env, "s3")
    s3.create_bucket(Bucket="data", CreateBucketConfiguration={"LocationConstraint": REGION})
    rows = _small_input(tmp_path, real_test_csv, rows=20)
    s3.put_object(Bucket="data", Key="in/rows.csv", Body=rows.read_bytes())
    s3.upload_file(str(pack(trained_model, tmp_path / "model.tar.gz")), "data", "m.tar.gz")
    command = [BIGMART, "predict", "--model", "s3://data/m.tar.gz", "--input"]
    done = subprocess.run(
        [*command, "s3://data/in/rows.csv", "--output", "s3://data/out/p.csv"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "wrote 20 predictions to s3://data/out/p.csv" in done.stdout
    local = tmp_path / "p.csv"
    assert bigmart("predict", "--model", str(trained_model), "--input", str(rows),
                   "--output", str(local)).returncode == 0  # fmt: skip
    assert s3.get_object(Bucket="data", Key="out/p.csv")["Body"].read() == local.read_bytes()
    for uri, message in [
        ("s3://data/in/missing.csv", "--input 's3://data/in/missing.csv' does not exist"),
        ("s3://data/in/", "--input 's3://data/in/' is a prefix; give one CSV object"),
    ]:
        refused = subprocess.run(
            [*command, uri, "--output", str(tmp_path / "q.csv")],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert refused.returncode == 2
        assert refused.stderr == f"bigmart: error: {message}\n"
