"""``bigmart endpoint`` create / invoke / list / delete, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bigmart.artifact import pack

BIGMART = str(Path(sys.executable).with_name("bigmart"))
LINE = (
    "FDW58,20.75,Low Fat,0.007564836,Snack Foods,107.8622,OUT049,1999,Medium,Tier 1,"
    "Supermarket Type1"
)


def bigmart(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BIGMART, *args], capture_output=True, text=True, timeout=120)


def test_endpoint_lifecycle(trained_model, tmp_path):
    archive = pack(trained_model, tmp_path / "model.tar.gz")
    created = bigmart(
        "endpoint", "create", "--model", str(archive), "--name", "ep-1", "--workers", "1"
    )
    assert created.returncode == 0, created.stderr
    assert "InService at http://127.0.0.1:" in created.stdout
    try:
        again = bigmart("endpoint", "create", "--model", str(archive), "--name", "ep-1")
        assert again.returncode == 2 and "already exists" in again.stderr

        body = tmp_path / "rows.csv"
        body.write_text(f"{LINE}\n{LINE}\n")
        invoked = bigmart("endpoint", "invoke", "ep-1", "--body", str(body))
        assert invoked.returncode == 0, invoked.stderr
        assert len(invoked.stdout.splitlines()) == 2

        as_json = bigmart(
            "endpoint", "invoke", "ep-1", "--body", str(body), "--accept", "application/json"
        )
        assert len(json.loads(as_json.stdout)["predictions"]) == 2

        bad = tmp_path / "bad.csv"
        bad.write_text("not,a,row\n")
        refused = bigmart("endpoint", "invoke", "ep-1", "--body", str(bad))
        assert refused.returncode == 1 and "HTTP 400" in refused.stderr

        listed = bigmart("endpoint", "list")
        assert "ep-1" in listed.stdout and "InService" in listed.stdout
        record = json.loads(bigmart("jobs", "show", "ep-1").stdout)
        assert record["kind"] == "endpoint" and record["status"] == "InService"
    finally:
        deleted = bigmart("endpoint", "delete", "ep-1")
    assert deleted.returncode == 0, deleted.stderr
    gone = bigmart("endpoint", "invoke", "ep-1", "--body", str(body))
    assert gone.returncode == 2 and "Deleted" in gone.stderr
    assert json.loads(bigmart("jobs", "show", "ep-1").stdout)["status"] == "Deleted"


def test_endpoint_with_a_corrupt_model_fails_to_create(trained_model, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in trained_model.iterdir():
        (broken / path.name).write_bytes(path.read_bytes())
    (broken / "model.onnx").write_bytes(b"junk")
    created = bigmart("endpoint", "create", "--model", str(broken), "--name", "ep-bad")
    assert created.returncode == 2 and "sha256" in created.stderr
    assert json.loads(bigmart("jobs", "show", "ep-bad").stdout)["status"] == "Failed"
