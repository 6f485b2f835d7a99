"""SIGTERM to a running ``bigmart`` command: the job or endpoint ends in a final state and
its server is stopped, instead of the process vanishing with a record left in progress."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from bigmart.data import synthetic as synth

BIGMART = str(Path(sys.executable).with_name("bigmart"))


def _start(args: list[str], home: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [BIGMART, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "BIGMART_HOME": str(home)},
    )


def _terminate_after(process: subprocess.Popen[str], marker: str) -> tuple[int, str, str]:
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


def _servers_of(home: Path) -> list[int]:
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


def _record(home: Path, name: str) -> dict:
    shown = subprocess.run(
        [BIGMART, "jobs", "show", name],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "BIGMART_HOME": str(home)},
    )
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def test_sigterm_stops_a_transform_job_and_its_server(tmp_path, trained_model):
    home = tmp_path / "home"
    source = tmp_path / "in" / "rows.csv"
    synth.write_csv(source, 300_000, seed=3, with_target=False)  # about half a minute
    process = _start(
        [
            "transform", "--model", str(trained_model), "--input", str(source.parent),
            "--output", str(tmp_path / "out"), "--name", "stopped-transform",
        ],
        home,
    )  # fmt: skip
    code, out, err = _terminate_after(process, "settings:")
    assert code == 143, out + err
    assert "Traceback" not in err
    record = _record(home, "stopped-transform")
    assert record["status"] == "Stopped", record
    assert "SIGTERM" in record["failure_reason"]
    assert _servers_of(home) == []
    assert not (tmp_path / "out" / "rows.csv.out").exists()
    assert [p.name for p in (tmp_path / "out").glob(".*")] == []  # no temporary file left


def test_sigterm_during_quickstart_deletes_its_endpoint(tmp_path):
    home = tmp_path / "home"
    process = _start(["quickstart", "--workdir", str(tmp_path / "work"), "--rows", "200"], home)
    code, out, err = _terminate_after(process, "== invoke (CSV)")
    assert code == 143, out + err
    assert "Traceback" not in err
    assert "endpoint delete" in out
    listed = subprocess.run(
        [BIGMART, "endpoint", "list"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "BIGMART_HOME": str(home)},
    )
    assert "InService" not in listed.stdout, listed.stdout
    assert _servers_of(home) == []
