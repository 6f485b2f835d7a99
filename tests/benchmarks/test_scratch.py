"""benchmarks/scratch.py: a benchmark's scratch folder never outlives the run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from support.paths import REPO

# Writes a file into the scratch folder, then ends as the test says.
SCRIPT = """
import os, signal, sys, time
from benchmarks.scratch import scratch_folder
with scratch_folder("test") as folder:
    (folder / "big.pkl").write_bytes(b"x" * 1000)
    if sys.argv[1] == "sigterm":
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
    if sys.argv[1] == "error":
        raise RuntimeError("the benchmark failed")
"""


def scratch_of(stdout: str) -> Path:
    """The folder the script announced."""
    found = re.search(r"^scratch: (\S+) \(removed when this script ends\)$", stdout, re.M)
    assert found, stdout
    return Path(found.group(1))


@pytest.mark.parametrize(("ending", "code"), [("normal", 0), ("error", 1), ("sigterm", 143)])
def test_the_scratch_folder_is_announced_and_removed_however_the_script_ends(ending, code):
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, ending],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == code, result.stderr
    folder = scratch_of(result.stdout)
    assert folder.name.startswith("bigmart-bench-test-")
    assert not folder.exists()


def test_synth_memory_runs_and_leaves_nothing_behind():
    # its child process imported a module that no longer exists
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.synth_memory", "--small", "100", "--large", "1000"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ratio large/small peak" in result.stdout
    assert not scratch_of(result.stdout).exists()
