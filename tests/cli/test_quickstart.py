"""``bigmart quickstart``, the README's first command."""

from __future__ import annotations

import os
import subprocess

from support.cli import BIGMART, serve_processes_of, start_bigmart, terminate_after


def test_quickstart_runs_on_every_supported_python(tmp_path):
    # The README's first command; on 3.11.2 it died unpacking the model archive
    # (extractall's filter= argument exists from 3.11.4).
    result = subprocess.run(
        [BIGMART, "quickstart", "--rows", "200"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env={**os.environ, "BIGMART_HOME": str(tmp_path / "home")},
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    # its output goes to the one documented, git-ignored place: ./demo/quickstart/
    assert sorted(path.name for path in tmp_path.iterdir()) == ["demo", "home"]
    request = tmp_path / "demo" / "quickstart" / "request.csv"
    rows = request.read_text().splitlines()
    assert len(rows) == 3
    # the rows it sends are printed right under the line that announces them
    lines = result.stdout.splitlines()
    announced = lines.index(f"-- three rows as CSV ({request.relative_to(tmp_path)}):")
    assert lines[announced + 1 : announced + 4] == rows


def test_sigterm_during_quickstart_deletes_its_endpoint(tmp_path):
    home = tmp_path / "home"
    process = start_bigmart(
        ["quickstart", "--workdir", str(tmp_path / "work"), "--rows", "200"], home
    )
    code, out, err = terminate_after(process, "== invoke (CSV)")
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
    assert serve_processes_of(home) == []
