"""``bigmart endpoint`` create / invoke / list / delete, as a user runs them."""

from __future__ import annotations

import json
import os
import socket
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


def test_names_that_are_not_sagemaker_names_are_refused_before_the_disk_is_touched(tmp_path):
    home = Path(os.environ["BIGMART_HOME"])
    victim = home.parent / "victim"
    victim.mkdir(exist_ok=True)
    (victim / "data.txt").write_text("keep me")
    escaped = bigmart("endpoint", "create", "--model", "missing.tar.gz", "--name", "../../victim")
    assert escaped.returncode == 2 and "not a valid SageMaker name" in escaped.stderr
    assert (victim / "data.txt").read_text() == "keep me"
    for name in (".", "bad name", "under_score", ""):
        refused = bigmart("endpoint", "create", "--model", "m.tar.gz", "--name", name)
        assert refused.returncode == 2 and "not a valid SageMaker name" in refused.stderr, name
    runs = tmp_path / "runs" / "deeper"
    training = bigmart("train", "--output", str(runs), "--name", "../escape")
    assert training.returncode == 2 and "not a valid SageMaker name" in training.stderr
    assert not (runs.parent / "escape").exists()
    transform = bigmart(
        "transform", "--model", "m", "--input", "i", "--output", "o", "--name", "a/b"
    )
    assert transform.returncode == 2 and "not a valid SageMaker name" in transform.stderr
    assert "Traceback" not in escaped.stderr + training.stderr + transform.stderr


def test_a_port_in_use_fails_the_endpoint_and_its_name_can_be_used_again(trained_model):
    with socket.socket() as other_server:
        other_server.bind(("127.0.0.1", 0))
        other_server.listen()
        busy = other_server.getsockname()[1]
        created = bigmart(
            "endpoint", "create", "--model", str(trained_model), "--name", "ep-busy",
            "--port", str(busy),
        )  # fmt: skip
        assert created.returncode == 2 and f"port {busy} is already in use" in created.stderr
    assert json.loads(bigmart("jobs", "show", "ep-busy").stdout)["status"] == "Failed"
    retried = bigmart(
        "endpoint", "create", "--model", str(trained_model), "--name", "ep-busy", "--workers", "1"
    )
    try:
        assert retried.returncode == 0, retried.stderr
        assert json.loads(bigmart("jobs", "show", "ep-busy").stdout)["status"] == "InService"
    finally:
        assert bigmart("endpoint", "delete", "ep-busy").returncode == 0


def test_user_mistakes_are_one_line_errors_not_tracebacks(tmp_path):
    missing = bigmart("endpoint", "invoke", "no-such", "--body", str(tmp_path / "nofile.csv"))
    assert missing.returncode == 2 and "nofile.csv: No such file or directory" in missing.stderr
    zero = bigmart("endpoint", "create", "--model", "m", "--name", "ep-zero", "--workers", "0")
    assert zero.returncode == 2 and "must be at least 1" in zero.stderr
    named = bigmart("jobs", "list", "some-job")
    assert named.returncode == 2 and "bigmart jobs show some-job" in named.stderr
    for result in (missing, zero, named):
        assert "Traceback" not in result.stderr


def test_a_reader_that_goes_away_ends_the_command_quietly():
    process = subprocess.Popen([BIGMART, "jobs"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # before the command has written anything
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 141
    assert b"Traceback" not in stderr
