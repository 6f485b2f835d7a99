"""``bigmart transform``: options checked before a job starts, the job recorded, and its
record ended whatever is raised inside or whoever sends SIGTERM."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bigmart.data import synthetic as synth
from support.cli import job_record, serve_processes_of, start_bigmart, terminate_after
from support.endpoints import until
from support.transform import expected, rows_file


def test_a_bad_filter_fails_the_command_before_a_job_is_recorded(tmp_path):
    bigmart = str(Path(sys.executable).with_name("bigmart"))
    command = [bigmart, "transform", "--model", "m", "--input", str(tmp_path), "--output", "o"]
    result = subprocess.run(
        [*command, "--name", "bad-filter", "--input-filter", "$.["],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "input_filter: '$.['" in result.stderr
    shown = subprocess.run([bigmart, "jobs", "show", "bad-filter"], capture_output=True, text=True)
    assert shown.returncode == 2 and "no job or endpoint named 'bad-filter'" in shown.stderr


def test_cli_transform_reports_and_records_the_job(model_archive, tmp_path):
    source = rows_file(tmp_path / "in" / "c.csv", 50, 16)
    bigmart = Path(sys.executable).with_name("bigmart")
    result = subprocess.run(
        [
            str(bigmart),
            "transform",
            "--model",
            str(model_archive),
            "--input",
            str(source.parent),
            "--output",
            str(tmp_path / "out"),
            "--name",
            "cli-transform-1",
            "--max-payload-mb",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "status: Completed (50 records" in result.stdout
    shown = subprocess.run(
        [str(bigmart), "jobs", "show", "cli-transform-1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    record = json.loads(shown.stdout)
    assert record["status"] == "Completed" and record["metrics"]["records"] == 50
    assert record["parameters"]["MaxPayloadInMB"] == 1
    listed = subprocess.run([str(bigmart), "jobs"], capture_output=True, text=True, timeout=60)
    assert "cli-transform-1" in listed.stdout


def test_cli_refuses_inconsistent_options(model_archive, tmp_path):
    bigmart = Path(sys.executable).with_name("bigmart")
    result = subprocess.run(
        [
            str(bigmart),
            "transform",
            "--model",
            str(model_archive),
            "--input",
            str(tmp_path),
            "--output",
            str(tmp_path / "o"),
            "--max-payload-mb",
            "60",
            "--max-concurrent-transforms",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "must not exceed 100" in result.stderr


def bigmart_main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    from bigmart.cli import main as cli

    with pytest.raises(SystemExit) as exit_:
        cli.main(list(args))
    out, err = capsys.readouterr()
    return exit_.value.code, out, err


def test_cli_ends_the_job_record_whatever_is_raised_inside(tmp_path, monkeypatch, capsys):
    import bigmart.local.transform.job as transform_job
    from bigmart.cli.common import store

    def defect(*args, **kwargs):
        raise KeyError("a defect\nin two lines")

    monkeypatch.setattr(transform_job, "run_transform_job", defect)
    common = ["transform", "--model", "m", "--input", str(tmp_path), "--output", str(tmp_path)]
    code, _, err = bigmart_main(monkeypatch, capsys, *common, "--name", "defect-1")
    assert code == 1 and "Traceback" not in err
    reason = err.splitlines()[-1]
    assert reason.startswith("failure reason: unexpected KeyError: 'a defect\\nin two lines'")
    record = store().get("defect-1")
    assert record.status == "Failed" and record.ended
    assert "KeyError" in record.failure_reason and "traceback.txt" in record.failure_reason
    assert "def defect" not in reason  # the traceback is in the file, not printed
    assert (
        "raise KeyError" in (Path(record.failure_reason.split("traceback: ")[1][:-1])).read_text()
    )

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(transform_job, "run_transform_job", interrupted)
    code, _, _ = bigmart_main(monkeypatch, capsys, *common, "--name", "interrupted-1")
    assert code == 130
    record = store().get("interrupted-1")
    assert record.status == "Stopped" and record.ended


def test_cli_a_broken_object_fails_alone_and_the_job_ends_failed(model_archive, tmp_path):
    source = rows_file(tmp_path / "in" / "good.csv", 40, 19)
    text = rows_file(tmp_path / "rows.csv", 2000, 20).read_bytes()
    (source.parent / "broken.csv.gz").write_bytes(gzip.compress(text)[:-200])  # truncated
    output = tmp_path / "out"
    output.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (output / ".good.csv.out.partial").symlink_to(victim)  # the old fixed temporary name
    bigmart = Path(sys.executable).with_name("bigmart")
    command = [str(bigmart), "transform", "--model", str(model_archive), "--input"]
    result = subprocess.run(
        [*command, str(source.parent), "--output", str(output), "--name", "cli-broken-1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    reason = result.stderr.strip().splitlines()[-1]
    assert reason.startswith("failure reason: 1 of 2 input object(s) failed; ")
    assert "broken.csv.gz, line " in reason and "gzip data is truncated or corrupt" in reason
    assert (output / "good.csv.out").read_text().splitlines() == expected(
        model_archive, source, tmp_path
    )
    assert not (output / "broken.csv.gz.out").exists()
    assert victim.read_text() == "precious\n"
    shown = subprocess.run(
        [str(bigmart), "jobs", "show", "cli-broken-1"], capture_output=True, text=True, timeout=60
    )
    record = json.loads(shown.stdout)
    assert record["status"] == "Failed" and "broken.csv.gz, line" in record["failure_reason"]
    report = json.loads(Path(record["artifacts"]["report"]).read_text())
    assert [o["status"] for o in report["objects"]] == ["Failed", "Completed"]


def long_transform(tmp_path: Path, model: Path, name: str) -> subprocess.Popen[str]:
    """``bigmart transform`` of 300,000 rows (about half a minute) from ``tmp_path/in`` to
    ``tmp_path/out``, BIGMART_HOME ``tmp_path/home``, just started."""
    source = tmp_path / "in" / "rows.csv"
    synth.write_csv(source, 300_000, seed=3, with_target=False)
    return start_bigmart(
        [
            "transform", "--model", str(model), "--input", str(source.parent),
            "--output", str(tmp_path / "out"), "--name", name,
        ],
        tmp_path / "home",
    )  # fmt: skip


def test_sigterm_stops_a_transform_job_and_its_server(tmp_path, trained_model):
    home = tmp_path / "home"
    process = long_transform(tmp_path, trained_model, "stopped-transform")
    code, out, err = terminate_after(process, "settings:")
    assert code == 143, out + err
    assert "Traceback" not in err
    record = job_record(home, "stopped-transform")
    assert record["status"] == "Stopped", record
    assert "SIGTERM" in record["failure_reason"]
    assert serve_processes_of(home) == []
    assert not (tmp_path / "out" / "rows.csv.out").exists()
    assert [p.name for p in (tmp_path / "out").glob(".*")] == []  # no temporary file left


def test_a_transform_killed_outright_takes_its_server_and_its_scratch_with_it(
    tmp_path, trained_model
):
    home = tmp_path / "home"
    process = long_transform(tmp_path, trained_model, "killed-transform")
    scratch = home / "jobs" / "killed-transform" / "transform-scratch"
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if "settings:" in line:  # its server answers: the records are being sent
                break
        assert (scratch / "model").is_dir() and serve_processes_of(home)
        process.kill()  # bigmart alone, as the OOM killer would: not its process group
        process.wait(timeout=60)
        until(lambda: serve_processes_of(home) == [], "the transform's server to end", 60)
    finally:
        for pid in serve_processes_of(home):
            os.kill(pid, signal.SIGKILL)
    record = job_record(home, "killed-transform")  # this reader ends the record
    assert record["status"] == "Failed", record
    assert "the job's process ended without reporting" in record["failure_reason"]
    assert not scratch.exists()
    assert not (tmp_path / "out" / "rows.csv.out").exists()


# -- issue 15 --


@pytest.mark.parametrize("option", [("--split-type", "None"), ("--assemble-with", "None")])
def test_a_join_without_one_output_per_record_is_a_usage_error_and_no_job(tmp_path, option):
    bigmart = str(Path(sys.executable).with_name("bigmart"))
    name = f"join-{option[1].lower()}-{option[0][2:]}"
    command = [bigmart, "transform", "--model", "m", "--input", str(tmp_path), "--output", "o"]
    result = subprocess.run(
        [*command, "--name", name, "--join-source", "Input", *option],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(
        "bigmart: error: join_source=Input needs split_type=Line and assemble_with=Line"
    )
    shown = subprocess.run([bigmart, "jobs", "show", name], capture_output=True, text=True)
    assert shown.returncode == 2 and f"no job or endpoint named {name!r}" in shown.stderr


def test_cli_json_answers_are_assembled_as_sagemaker_does(model_archive, tmp_path):
    source = rows_file(tmp_path / "in" / "c.csv", 50, 21)
    packed = tmp_path / "in" / "packed.csv"  # gzip, but not named .gz
    packed.write_bytes(gzip.compress(source.read_bytes()))
    bigmart = str(Path(sys.executable).with_name("bigmart"))
    result = subprocess.run(
        [
            bigmart, "transform", "--model", str(model_archive), "--input", str(source.parent),
            "--output", str(tmp_path / "out"), "--accept", "application/json",
            "--batch-strategy", "SingleRecord", "--max-payload-mb", "0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "MaxPayloadInMB=0 (no payload limit)" in result.stdout
    # One answer a record (SingleRecord): each body as the server wrote it, then a line end.
    lines = (tmp_path / "out" / "c.csv.out").read_text().splitlines()
    assert [json.loads(line)["predictions"] for line in lines] == [
        [pytest.approx(float(p))] for p in expected(model_archive, source, tmp_path)
    ]
    assert result.stderr.rstrip().endswith(
        "packed.csv, line 1: the object is not UTF-8 text: it looks gzip-compressed (it starts "
        "with bytes 1f 8b); use CompressionType=Gzip (--compression-type Gzip) or name it .gz"
    )
    assert not (tmp_path / "out" / "packed.csv.out").exists()


def test_a_reader_that_closes_the_pipe_early_does_not_end_the_job(model_archive, tmp_path):
    """``bigmart transform ... | head -1``: the job still scores every record."""
    source = rows_file(tmp_path / "in" / "c.csv", 50, 16)
    bigmart = str(Path(sys.executable).with_name("bigmart"))
    process = subprocess.Popen(
        [
            *(bigmart, "transform", "--model", str(model_archive), "--input", str(source.parent)),
            *("--output", str(tmp_path / "out"), "--name", "piped-transform"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    process.stdout.close()  # as head does once it has its line
    _, err = process.communicate(timeout=120)
    assert first == b"Transform job piped-transform\n"
    assert process.returncode == 0, err
    assert b"Traceback" not in err and b"Broken pipe" not in err
    record = json.loads(bigmart_output("jobs", "show", "piped-transform"))
    assert record["status"] == "Completed" and record["metrics"]["records"] == 50
    assert len((tmp_path / "out" / "c.csv.out").read_text().splitlines()) == 50


def bigmart_output(*args: str) -> str:
    bigmart = str(Path(sys.executable).with_name("bigmart"))
    shown = subprocess.run([bigmart, *args], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    return shown.stdout
