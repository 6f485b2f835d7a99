"""``bigmart.lifeline``: a tethered child ends when its parent is killed outright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bigmart.lifeline import EXIT_NOT_RUN
from support.cli import process_gone
from support.endpoints import until

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")

SLEEPER = "import time; time.sleep(600)"
#: A parent that starts one tethered and one plain sleeper, prints their PIDs and waits.
PARENT = f"""
import subprocess, sys, time
from bigmart.lifeline import tethered
sleeper = [sys.executable, "-c", {SLEEPER!r}]
children = [subprocess.Popen(tethered(sleeper)), subprocess.Popen(sleeper)]
print(*(child.pid for child in children), flush=True)
time.sleep(600)
"""


def running(pid: int, text: str) -> bool:
    """True once process ``pid`` runs a command line holding ``text`` (it has exec'd)."""
    try:
        return text.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def test_a_tethered_child_ends_with_a_parent_killed_outright_and_a_plain_one_does_not():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    tethered_pid, plain_pid = map(int, parent.stdout.readline().split())
    try:
        until(lambda: running(tethered_pid, SLEEPER), "the tethered child runs", 30)
        parent.kill()
        parent.wait(timeout=30)
        until(lambda: process_gone(tethered_pid), "the tethered child ends", 30)
        assert not process_gone(plain_pid)  # the control: nothing else ended it
    finally:
        for pid in (tethered_pid, plain_pid):
            if not process_gone(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_parent_already_gone_means_the_command_never_runs(tmp_path):
    marker = tmp_path / "ran"
    not_my_parent = os.getppid()  # not the lifeline's parent (this process is): as if its
    # parent had died before the request was in place
    result = subprocess.run(
        [sys.executable, "-m", "bigmart.lifeline", str(not_my_parent), "--", "touch", str(marker)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert not marker.exists()


def test_a_command_that_cannot_run_is_one_line_and_127(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bigmart.lifeline", str(os.getpid()), "--", str(tmp_path / "no")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == EXIT_NOT_RUN
    assert result.stderr.strip() == (
        f"bigmart.lifeline: cannot run {tmp_path / 'no'}: No such file or directory"
    )
    assert "Traceback" not in result.stderr


def test_usage_errors_are_named():
    result = subprocess.run(
        [sys.executable, "-m", "bigmart.lifeline", "x", "true"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("usage: python -m bigmart.lifeline")
