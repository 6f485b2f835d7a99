"""A training job's record always ends: an S3 upload that fails ends it Failed with a
one-line reason, and a job whose process was killed outright (``kill -9``) is not left
``InProgress``: the reader finds its process gone and marks it Failed (issue 11)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aws_server import moto_server
from bigmart.data import synthetic as synth
from bigmart.local.jobs import JobStore

BIGMART = str(Path(sys.executable).with_name("bigmart"))
GONE = "the job's process ended without reporting"


def _train(data: Path, output: str, name: str, *, trees: int) -> list[str]:
    """``bigmart train`` on one core (3,000 trees on 8,000 rows run for a minute or more)."""
    return [
        *(BIGMART, "train", "--data", str(data), "--output", output, "--name", name),
        *("--hp", f"n_estimators={trees}", "--hp", "n_jobs=1"),
    ]


def _show(name: str, environment: dict[str, str]) -> dict[str, object]:
    shown = subprocess.run(
        [BIGMART, "jobs", "show", name],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
    )
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def test_an_s3_output_in_a_missing_bucket_ends_the_job_failed_in_one_line(tmp_path):
    data = tmp_path / "train.csv"
    synth.write_csv(data, 300, seed=1)
    output = "s3://bucket-that-does-not-exist/runs"
    with moto_server() as server:
        environment = {**os.environ, **server.environment(), "BIGMART_HOME": str(tmp_path)}
        result = subprocess.run(
            _train(data, output, "no-bucket", trees=5),
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
        record = _show("no-bucket", environment)
    assert record["status"] == "Failed"
    reason = str(record["failure_reason"])
    assert "s3://bucket-that-does-not-exist/runs/no-bucket/output/" in reason
    assert "\n" not in reason and record["ended"] is not None


def test_a_training_job_killed_outright_is_shown_failed_not_in_progress(tmp_path):
    data = tmp_path / "train.csv"
    synth.write_csv(data, 8_000, seed=2)
    environment = {**os.environ, "BIGMART_HOME": str(tmp_path)}
    process = subprocess.Popen(
        _train(data, str(tmp_path / "runs"), "killed", trees=3000),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=environment,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        record = None
        while time.monotonic() < deadline:
            record = JobStore(tmp_path).get("killed") if (tmp_path / "jobs.db").exists() else None
            if record is not None and record.status == "InProgress":
                break
            assert process.poll() is None, "train ended before it could be killed"
            time.sleep(0.1)
        assert record is not None and record.status == "InProgress"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    record_shown = _show("killed", environment)
    assert record_shown["status"] == "Failed"
    assert str(record_shown["failure_reason"]).startswith(GONE)
    assert record_shown["ended"] is not None
    # The verdict is stored: a second reader sees the same record, not a new time.
    assert _show("killed", environment) == record_shown


@pytest.mark.parametrize("kind", ["training", "transform"])
def test_a_record_whose_pid_was_reused_by_another_process_is_failed(tmp_path, kind):
    from bigmart.local.processes import ProcessIdentity

    me = ProcessIdentity.of(os.getpid())
    assert me is not None
    store = JobStore(tmp_path)
    # The PID is alive, but it is another process than the one that owned the job.
    store.create("reused", kind, {}, "InProgress", owner=ProcessIdentity(me.pid, me.start_time - 1))
    record = store.get("reused")
    assert record is not None and record.status == "Failed"
    assert record.failure_reason is not None and record.failure_reason.startswith(GONE)
    assert record.ended is not None
    assert [r.status for r in store.list()] == ["Failed"]


def test_a_record_whose_owner_runs_stays_in_progress(tmp_path):
    from bigmart.local.processes import ProcessIdentity

    store = JobStore(tmp_path)
    store.create("alive", "training", {}, "InProgress", owner=ProcessIdentity.of(os.getpid()))
    store.create("unowned", "training", {}, "InProgress")  # a SageMaker job: no local owner
    assert [(r.name, r.status) for r in store.list()] == [
        ("alive", "InProgress"),
        ("unowned", "InProgress"),
    ]
    record = store.get("alive")
    assert record is not None and record.status == "InProgress" and record.ended is None


def test_sigterm_to_train_stops_the_job_and_its_train_process(tmp_path):
    data = tmp_path / "train.csv"
    synth.write_csv(data, 8_000, seed=3)
    environment = {**os.environ, "BIGMART_HOME": str(tmp_path)}
    process = subprocess.Popen(
        _train(data, str(tmp_path / "runs"), "termed", trees=3000),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("  | "):  # train's own log: it runs
                break
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        assert children, "train is not running"
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
    record = _show("termed", environment)
    assert record["status"] == "Stopped"
    assert "SIGTERM" in str(record["failure_reason"]) and record["ended"] is not None
    assert not any(Path(f"/proc/{child}").exists() for child in children)


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


def test_a_database_from_before_owners_is_opened_and_its_records_kept(tmp_path):
    import sqlite3

    with sqlite3.connect(tmp_path / "jobs.db") as connection:
        connection.execute(
            "CREATE TABLE jobs (name TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL, "
            "created REAL NOT NULL, ended REAL, parameters TEXT NOT NULL DEFAULT '{}', "
            "metrics TEXT NOT NULL DEFAULT '{}', artifacts TEXT NOT NULL DEFAULT '{}', "
            "failure_reason TEXT)"
        )
        connection.execute(
            "INSERT INTO jobs (name, kind, status, created) VALUES ('old', 'training', "
            "'InProgress', 1)"
        )
    connection.close()
    store = JobStore(tmp_path)
    assert [(r.name, r.status) for r in store.list()] == [("old", "InProgress")]  # not known
    store.create("new", "training", {}, "InProgress", owner=None)
    assert [r.name for r in JobStore(tmp_path).list()] == ["old", "new"]
