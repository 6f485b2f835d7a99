"""``bigmart train`` as a user runs it; its job record always ends, whatever stops it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest

from bigmart.data import synthetic as synth
from bigmart.data.reading import iter_csv_chunks
from bigmart.local.jobs import JobStore
from bigmart.model.predictor import Predictor
from support.aws_server import moto_server
from support.cli import bigmart, process_gone, show_job, train_argv
from support.endpoints import until


def test_an_s3_output_in_a_missing_bucket_ends_the_job_failed_in_one_line(tmp_path):
    data = tmp_path / "train.csv"
    synth.write_csv(data, 300, seed=1)
    output = "s3://bucket-that-does-not-exist/runs"
    with moto_server() as server:
        environment = {**os.environ, **server.environment(), "BIGMART_HOME": str(tmp_path)}
        result = subprocess.run(
            train_argv(data, output, "no-bucket", trees=5),
            capture_output=True,
            text=True,
            timeout=300,
            env=environment,
        )
        assert result.returncode != 0
        assert "Traceback" not in result.stderr + result.stdout
        errors = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(errors) == 1, result.stderr
        assert "s3://bucket-that-does-not-exist/runs/no-bucket/output/" in errors[0]
        record = show_job("no-bucket", environment)
    assert record["status"] == "Failed"
    reason = str(record["failure_reason"])
    assert "s3://bucket-that-does-not-exist/runs/no-bucket/output/" in reason
    assert "\n" not in reason and record["ended"] is not None


def training_under_way(tmp_path: Path, name: str) -> tuple[subprocess.Popen[str], list[str]]:
    """``bigmart train`` in a session of its own (BIGMART_HOME ``tmp_path``), returned once
    its ``train`` child logs (it runs for a minute or more), with that child's PID."""
    data = tmp_path / "train.csv"
    synth.write_csv(data, 8_000, seed=3)
    process = subprocess.Popen(
        train_argv(data, str(tmp_path / "runs"), name, trees=3000),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "BIGMART_HOME": str(tmp_path)},
        start_new_session=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("  | "):  # train's own log: it runs
            break
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    assert children, "train is not running"
    return process, children


def test_sigterm_to_train_stops_the_job_and_its_train_process(tmp_path):
    environment = {**os.environ, "BIGMART_HOME": str(tmp_path)}
    process, children = training_under_way(tmp_path, "termed")
    try:
        process.send_signal(signal.SIGTERM)  # to bigmart only, not its train child
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM
    assert "Traceback" not in err and err.strip().splitlines() == [
        "bigmart: interrupted by SIGTERM"
    ]
    record = show_job("termed", environment)
    assert record["status"] == "Stopped"
    assert "SIGTERM" in str(record["failure_reason"]) and record["ended"] is not None
    assert not any(Path(f"/proc/{child}").exists() for child in children)


def test_train_ends_with_a_bigmart_killed_outright_and_writes_no_model(tmp_path):
    environment = {**os.environ, "BIGMART_HOME": str(tmp_path)}
    process, children = training_under_way(tmp_path, "killed")
    try:
        process.kill()  # bigmart alone, as the OOM killer would: not its process group
        process.wait(timeout=60)
        until(lambda: all(process_gone(int(child)) for child in children), "train to end", 60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    record = show_job("killed", environment)
    assert record["status"] == "Failed"
    assert "the job's process ended without reporting" in str(record["failure_reason"])
    job = tmp_path / "runs" / "killed"
    assert (job / "output" / "failure").read_text().startswith("Training stopped: SIGTERM")
    assert list((job / "model").iterdir()) == []  # train stopped, not run to its end


def test_an_unexpected_error_after_the_record_exists_ends_it_failed(tmp_path, monkeypatch):
    from bigmart.cli import main as cli
    from bigmart.local import sagemaker

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("a bug")

    monkeypatch.setenv("BIGMART_HOME", str(tmp_path))
    monkeypatch.setattr(sagemaker, "run_training_job", broken)
    data = tmp_path / "train.csv"
    synth.write_csv(data, 50, seed=4)
    with pytest.raises(SystemExit) as exited:
        cli.main(["train", "--data", str(data), "--output", str(tmp_path), "--name", "bug"])
    assert exited.value.code == 1
    record = JobStore(tmp_path).get("bug")
    assert record is not None and record.status == "Failed"
    assert record.failure_reason is not None
    assert record.failure_reason.startswith("unexpected RuntimeError: a bug (traceback: ")
    assert (tmp_path / "jobs" / "bug" / "traceback.txt").read_text().count("RuntimeError") >= 1


def test_train_then_predict_end_to_end(tmp_path, real_train_csv, real_test_csv):
    trained = bigmart(
        "train",
        "--data",
        str(real_train_csv),
        "--output",
        str(tmp_path / "runs"),
        "--name",
        "job-1",
        "--hp",
        "n_estimators=30",
    )
    assert trained.returncode == 0, trained.stdout + trained.stderr
    assert "status: Completed" in trained.stdout
    assert "metric: validation:rmse=" in trained.stdout
    output = tmp_path / "runs" / "job-1" / "output"
    archive = output / "model.tar.gz"
    assert f"model: {archive}" in trained.stdout
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == [
            "baseline.json",
            "featurizer.json",
            "metadata.json",
            "model.onnx",
        ]
    with tarfile.open(output / "output.tar.gz") as tar:
        assert {"metrics.json", "report.html", "report.json"} <= set(tar.getnames())
        packed = json.load(tar.extractfile("report.json"))  # type: ignore[arg-type]
    assert packed["metrics"] == json.loads((output / "data" / "metrics.json").read_text())
    assert packed["job"] == "job-1"  # the job's name reaches train, as on SageMaker
    report = (output / "data" / "report.html").resolve()
    assert f"report: {output / 'data' / 'report.html'}" in trained.stdout
    for target in ("job-1", str(archive), str(tmp_path / "runs" / "job-1" / "model")):
        shown = bigmart("report", target)
        assert shown.returncode == 0 and shown.stdout == f"{report}\n", shown.stderr

    predicted = bigmart(
        "predict",
        "--model",
        str(archive),
        "--input",
        str(real_test_csv),
        "--output",
        str(tmp_path / "preds.csv"),
    )
    assert predicted.returncode == 0, predicted.stderr
    lines = (tmp_path / "preds.csv").read_text().splitlines()
    assert len(lines) == 5681
    # In input order: the same rows scored in-process give the same numbers.
    predictor = Predictor.load(tmp_path / "runs" / "job-1" / "model")
    ((features, _),) = list(iter_csv_chunks(real_test_csv, require_target=False))
    np.testing.assert_array_equal(np.array(lines, dtype=np.float32), predictor.predict(features))


def test_train_without_data_uses_synthetic_rows_and_says_so(tmp_path):
    result = bigmart(
        "train", "--output", str(tmp_path), "--name", "synthetic", "--hp", "n_estimators=10"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No --data given: training on 8,523 synthetic Big Mart rows" in result.stdout
    assert (tmp_path / "synthetic" / "output" / "model.tar.gz").exists()


def test_failed_training_job_prints_the_reason_and_exits_non_zero(tmp_path, real_train_csv):
    lines = real_train_csv.read_text().splitlines()[:20]
    lines[5] = lines[5].replace("Low Fat", "Low Fat,extra", 1)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines))
    result = bigmart(
        "train", "--data", str(bad), "--output", str(tmp_path / "runs"), "--name", "bad"
    )
    assert result.returncode == 1
    assert "status: Failed" in result.stdout
    assert "failure reason: Bad training data:" in result.stderr
    assert "line 6" in result.stderr
    assert not (tmp_path / "runs" / "bad" / "output" / "model.tar.gz").exists()


def test_an_undefined_metric_is_reported_as_such_not_a_crash(tmp_path, real_train_csv):
    lines = real_train_csv.read_text().splitlines()
    one_row = tmp_path / "one-row.csv"
    one_row.write_text(f"{lines[0]}\n{lines[1]}\n")
    result = bigmart(
        "train", "--data", str(real_train_csv), "--validation", str(one_row),
        "--output", str(tmp_path / "runs"), "--name", "one-row", "--hp", "n_estimators=5",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "metric: validation:r2 is undefined (nan) and not reported" in result.stdout
    assert re.search(r"metric: validation:rmse=\d+\.\d{4}\n", result.stdout)
    assert json.loads(bigmart("jobs", "show", "one-row").stdout)["metrics"]["validation:r2"] is None


def test_bad_hyperparameter_is_refused_before_a_job_starts(tmp_path, real_train_csv):
    result = bigmart(
        "train", "--data", str(real_train_csv), "--output", str(tmp_path), "--hp", "trees=5"
    )
    assert result.returncode == 2
    assert "unknown hyper-parameter(s) trees" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_reader_that_closes_the_pipe_early_does_not_end_the_job(tmp_path):
    """``bigmart train | head -2``: the job runs to its end and is recorded Completed."""
    data = tmp_path / "train.csv"
    synth.write_csv(data, 2_000, seed=4)
    environment = {**os.environ, "BIGMART_HOME": str(tmp_path)}
    process = subprocess.Popen(
        train_argv(data, str(tmp_path / "runs"), "piped", trees=50),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    process.stdout.close()  # as head does once it has its lines
    _, err = process.communicate(timeout=300)
    assert first.startswith(b"Training job piped:")
    assert process.returncode == 0, err
    assert b"Traceback" not in err and b"Broken pipe" not in err
    record = show_job("piped", environment)
    assert record["status"] == "Completed", record["failure_reason"]
    assert (tmp_path / "runs" / "piped" / "output" / "model.tar.gz").exists()
