"""Running the installed ``bigmart`` command as a user does, and reading what it left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

BIGMART = str(Path(sys.executable).with_name("bigmart"))


def bigmart(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BIGMART, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def predicted(model: str, rows: Path, output: Path) -> list[float]:
    """``bigmart predict`` with ``model`` on the CSV ``rows``: one prediction a row."""
    done = subprocess.run(
        [BIGMART, "predict", "--model", model, "--input", str(rows), "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return [float(line) for line in output.read_text().split()]


def train_argv(data: Path, output: str, name: str, *, trees: int) -> list[str]:
    """``bigmart train`` on one core (3,000 trees on 8,000 rows run for a minute or more)."""
    return [
        *(BIGMART, "train", "--data", str(data), "--output", output, "--name", name),
        *("--hp", f"n_estimators={trees}", "--hp", "n_jobs=1"),
    ]


def show_job(name: str, environment: dict[str, str]) -> dict[str, object]:
    shown = subprocess.run(
        [BIGMART, "jobs", "show", name],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
    )
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def start_bigmart(args: list[str], home: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [BIGMART, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "BIGMART_HOME": str(home)},
    )


def terminate_after(process: subprocess.Popen[str], marker: str) -> tuple[int, str, str]:
    """Read stdout until a line holds ``marker``, send SIGTERM, return code and output."""
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if marker in line:
            process.send_signal(signal.SIGTERM)
            break
    else:
        raise AssertionError(f"never printed {marker!r}: {''.join(seen)[-2000:]}")
    out, err = process.communicate(timeout=120)
    return process.returncode, "".join(seen) + out, err


def serve_processes_of(home: Path) -> list[int]:
    """PIDs of live ``serve`` processes started by a command run with ``home`` as its
    BIGMART_HOME (they inherit it; a transform's OPT_ML is a temporary folder elsewhere)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and b"BIGMART_HOME=" + os.fsencode(home) in environ:
            found.append(int(entry.name))
    return found


def job_record(home: Path, name: str) -> dict:
    shown = subprocess.run(
        [BIGMART, "jobs", "show", name],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "BIGMART_HOME": str(home)},
    )
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def process_gone(pid: int) -> bool:
    """True once process ``pid`` has exited (no longer in /proc, or a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"
