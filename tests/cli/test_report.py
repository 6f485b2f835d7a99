"""``bigmart report`` as a user runs it: a job's name or a path in, the report's path out."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from bigmart.local.jobs import JobStore
from support.cli import BIGMART


def _report(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BIGMART, "report", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "BIGMART_HOME": str(home), **env},
    )


def _finished_job(tmp_path: Path) -> Path:
    data = tmp_path / "runs" / "job-1" / "output" / "data"
    data.mkdir(parents=True)
    (data / "report.html").write_text("<!DOCTYPE html><title>report</title>")
    JobStore(tmp_path / "home").create(
        "job-1",
        "training",
        {"OutputDataConfig": {"S3OutputPath": str(tmp_path / "runs")}},
        "Completed",
    )
    return data / "report.html"


def test_a_job_name_prints_its_report_and_open_hands_it_to_the_browser(tmp_path):
    report = _finished_job(tmp_path)
    shown = _report(tmp_path / "home", "job-1")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == f"{report.resolve()}\n"

    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(0o755)
    shown = _report(tmp_path / "home", "job-1", "--open", BROWSER=str(browser))
    assert shown.returncode == 0, shown.stderr
    assert opened.read_text().strip() == report.resolve().as_uri()


def test_what_is_neither_a_job_nor_a_path_is_a_usage_error(tmp_path):
    shown = _report(tmp_path / "home", "no-such-job")
    assert shown.returncode == 2
    assert shown.stderr.strip() == (
        "bigmart: error: 'no-such-job' is neither a job (see: bigmart jobs) nor an existing "
        "file or folder"
    )
    (tmp_path / "empty").mkdir()
    shown = _report(tmp_path / "home", str(tmp_path / "empty"))
    assert shown.returncode == 2 and "no training report for" in shown.stderr
