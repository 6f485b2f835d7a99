"""``bigmart endpoint`` create / invoke / list / delete, as a user runs them; endpoints
listen on 127.0.0.1 unless ``--host`` says otherwise (issue 10, item 13)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from bigmart.cli import main as cli
from bigmart.cli.common import store
from bigmart.local.jobs import OWNER_GONE
from bigmart.local.processes import ProcessIdentity
from bigmart.local.server_process import ModelServer
from bigmart.model.archive import pack
from support.cli import BIGMART, bigmart, process_gone
from support.servers import listening_addresses


def test_an_endpoint_listens_on_loopback_only(trained_model):
    created = bigmart(
        "endpoint", "create", "--model", str(trained_model), "--name", "ep-local", "--workers", "1"
    )
    assert created.returncode == 0, created.stderr
    try:
        port = store().get("ep-local").artifacts["port"]
        assert listening_addresses(port) == {"127.0.0.1"}
        assert "WARNING" not in created.stderr
    finally:
        assert bigmart("endpoint", "delete", "ep-local").returncode == 0


def test_an_endpoint_on_another_address_is_told_loudly_and_still_answers(trained_model):
    created = bigmart(
        "endpoint", "create", "--model", str(trained_model), "--name", "ep-open",
        "--workers", "1", "--host", "0.0.0.0",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    try:
        assert "WARNING: --host 0.0.0.0" in created.stderr
        port = store().get("ep-open").artifacts["port"]
        assert listening_addresses(port) == {"0.0.0.0"}
        body = Path(store().get("ep-open").artifacts["model_dir"]).parent / "body.csv"
        body.write_text(
            "FDW58,20.75,Low Fat,0.007564836,Snack Foods,107.8622,OUT049,1999,Medium,"
            "Tier 1,Supermarket Type1\n"
        )
        assert bigmart("endpoint", "invoke", "ep-open", "--body", str(body)).returncode == 0
    finally:
        assert bigmart("endpoint", "delete", "ep-open").returncode == 0


LINE = (
    "FDW58,20.75,Low Fat,0.007564836,Snack Foods,107.8622,OUT049,1999,Medium,Tier 1,"
    "Supermarket Type1"
)


def test_endpoint_lifecycle(trained_model, tmp_path):
    archive = pack(trained_model, tmp_path / "model.tar.gz")
    # a training job of the same name (as the README's walk-through has) is not in the way
    store().create("ep-1", "training", {}, "Completed")
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
        assert as_json.stdout.endswith("]}\n")  # the prompt does not follow on the same line

        bad = tmp_path / "bad.csv"
        bad.write_text("not,a,row\n")
        refused = bigmart("endpoint", "invoke", "ep-1", "--body", str(bad))
        assert refused.returncode == 1 and "HTTP 400" in refused.stderr

        listed = bigmart("endpoint", "list")
        assert "ep-1" in listed.stdout and "InService" in listed.stdout
        record = json.loads(bigmart("jobs", "show", "ep-1", "--kind", "endpoint").stdout)
        assert record["kind"] == "endpoint" and record["status"] == "InService"
        # A record written before start times were kept is matched by serve's environment.
        server = record["artifacts"]["pid"]
        old_style = {k: v for k, v in record["artifacts"].items() if k != "start_time"}
        store().update("ep-1", kind="endpoint", artifacts=old_style)
    finally:
        deleted = bigmart("endpoint", "delete", "ep-1")
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.strip() == "endpoint ep-1: Deleted" and process_gone(server)
    gone = bigmart("endpoint", "invoke", "ep-1", "--body", str(body))
    assert gone.returncode == 2 and "Deleted" in gone.stderr
    shown = bigmart("jobs", "show", "ep-1", "--kind", "endpoint")
    assert json.loads(shown.stdout)["status"] == "Deleted"


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


# --- every creation ends: a record never stays Creating (issue 10, item 5) ---------------


def _status(name: str) -> dict:
    return json.loads(bigmart("jobs", "show", name).stdout)


def test_a_hostile_archive_fails_the_endpoint_in_one_line_and_frees_the_name(tmp_path):
    archive = tmp_path / "hostile.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        member = tarfile.TarInfo("../escape.txt")
        member.size = 4
        tar.addfile(member, io.BytesIO(b"evil"))
    created = bigmart("endpoint", "create", "--model", str(archive), "--name", "ep-hostile")
    assert created.returncode == 2, created.stderr
    assert "escape.txt" in created.stderr and "Traceback" not in created.stderr
    assert len(created.stderr.strip().splitlines()) == 1
    record = _status("ep-hostile")
    assert record["status"] == "Failed" and "escape.txt" in record["failure_reason"]
    assert not (tmp_path.parent / "escape.txt").exists()
    again = bigmart("endpoint", "create", "--model", str(archive), "--name", "ep-hostile")
    assert again.returncode == 2 and "already exists" not in again.stderr


def test_a_model_serve_cannot_load_fails_the_endpoint(trained_model, tmp_path):
    """Checksums recomputed after tampering pass the copy; ``serve`` then refuses it."""
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    for path in trained_model.iterdir():
        (tampered / path.name).write_bytes(path.read_bytes())
    junk = b"not an onnx model"
    (tampered / "model.onnx").write_bytes(junk)
    metadata = json.loads((tampered / "metadata.json").read_text())
    metadata["files"]["model.onnx"] = hashlib.sha256(junk).hexdigest()
    (tampered / "metadata.json").write_text(json.dumps(metadata))
    created = bigmart("endpoint", "create", "--model", str(tampered), "--name", "ep-unloadable")
    assert created.returncode == 2 and "Traceback" not in created.stderr
    record = _status("ep-unloadable")
    assert record["status"] == "Failed" and record["failure_reason"]
    assert record["ended"] is not None


def _create_in_process(monkeypatch, name: str, model: Path, *extra: str) -> int:
    """``bigmart endpoint create`` in this process, so a test can make it fail inside."""
    with pytest.raises(SystemExit) as exited:
        cli.main(["endpoint", "create", "--model", str(model), "--name", name, *extra])
    return exited.value.code


def test_an_unexpected_exception_fails_the_endpoint_and_names_the_bug(
    trained_model, monkeypatch, capsys
):
    def broken(self):
        raise RuntimeError("boom")

    monkeypatch.setattr(ModelServer, "spawn", broken)  # where serve's process is started
    code = _create_in_process(monkeypatch, "ep-boom", trained_model)
    error = capsys.readouterr().err
    log = store().home / "jobs" / "ep-boom" / "traceback.txt"  # the lifecycle keeps it
    assert code == 2 and "unexpected RuntimeError: boom" in error and str(log) in error
    assert "Traceback" not in error and len(error.strip().splitlines()) == 1
    record = store().get("ep-boom")
    assert record.status == "Failed"
    assert record.failure_reason == f"unexpected RuntimeError: boom (traceback: {log})"
    assert "Traceback" in log.read_text() and "boom" in log.read_text()
    monkeypatch.undo()
    again = _create_in_process(monkeypatch, "ep-boom", Path("/nonexistent/model.tar.gz"))
    assert again == 2 and "already exists" not in capsys.readouterr().err
    assert store().get("ep-boom").failure_reason != "RuntimeError: boom"


def test_ctrl_c_after_serve_started_stops_it_and_fails_the_endpoint(
    trained_model, monkeypatch, capsys
):
    started = []

    def interrupted(self, timeout=0):
        started.append(self)
        raise KeyboardInterrupt

    monkeypatch.setattr(ModelServer, "wait_until_healthy", interrupted)
    code = _create_in_process(monkeypatch, "ep-ctrl-c", trained_model, "--workers", "1")
    assert code == 130
    (server,) = started
    assert server.process.poll() is not None  # the half-started server was stopped
    record = store().get("ep-ctrl-c")
    assert record.status == "Failed" and "interrupted" in record.failure_reason
    assert "marked Failed" in capsys.readouterr().err


def _fake_engine(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A ``docker`` whose ``run`` records its arguments and PID, then never answers /ping;
    its other commands (``stop``, ``rm``) are appended to ``calls.other`` and succeed."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "docker-calls"
    fake = bin_dir / "docker"
    fake.write_text(
        f'#!/bin/sh\ncase " $* " in *" run "*) echo "$$ $*" > {calls}; exec sleep 120;; esac\n'
        f'echo "$*" >> {calls}.other\n'
    )
    fake.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}, calls


def _start_creating(trained_model: Path, name: str, environment: dict[str, str], calls: Path):
    process = subprocess.Popen(
        [BIGMART, "endpoint", "create", "--model", str(trained_model), "--name", name,
         "--engine", "docker"],
        env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        process_group=0,  # a group of its own, which a test can kill whole
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (calls.exists() and calls.read_text().strip()):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the engine was never started"
        time.sleep(0.05)
    assert store().get(name).status == "Creating"
    return process, int(calls.read_text().split()[0])


def _killed_creator_test(trained_model: Path, tmp_path: Path, name: str):
    """``endpoint create`` killed with SIGKILL (its whole process group) while Creating."""
    environment, calls = _fake_engine(tmp_path)
    process, engine_pid = _start_creating(trained_model, name, environment, calls)
    try:
        os.killpg(process.pid, signal.SIGKILL)  # no chance to record anything
        process.communicate(timeout=60)
    finally:
        os.kill(engine_pid, signal.SIGKILL)  # the server runs in a session of its own


def test_sigterm_of_the_command_fails_the_endpoint_and_stops_its_server(trained_model, tmp_path):
    environment, calls = _fake_engine(tmp_path)
    process, engine_pid = _start_creating(trained_model, "ep-sigterm", environment, calls)
    try:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if not process_gone(engine_pid):
            os.kill(engine_pid, signal.SIGKILL)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "SIGTERM" in stderr and "Traceback" not in stderr
    record = store().get("ep-sigterm")
    assert record.status == "Failed" and "SIGTERM" in record.failure_reason
    assert process_gone(engine_pid)
    # the container engine was told to bind loopback inside its host network (item 13)
    run = calls.read_text().split()
    assert "BIGMART_BIND_HOST=127.0.0.1" in run
    # and the container it named was removed by that name, whatever its client did
    name = run[run.index("--name") + 1]
    assert Path(f"{calls}.other").read_text().splitlines()[-1] == f"rm -f {name}"


def test_a_killed_command_does_not_keep_the_name_creating_for_ever(trained_model, tmp_path):
    """As SageMaker shows an instance failure: the next reader ends it Failed (before,
    the record stayed Creating until the next ``create`` of the name)."""
    _killed_creator_test(trained_model, tmp_path, "ep-sigkill")
    record = store().get("ep-sigkill")
    assert record.status == "Failed" and record.failure_reason.startswith(OWNER_GONE)
    again = bigmart("endpoint", "create", "--model", "/nonexistent", "--name", "ep-sigkill")
    assert again.returncode == 2 and "already exists" not in again.stderr, again.stderr
    assert store().get("ep-sigkill").status == "Failed"


def test_endpoint_list_and_jobs_show_say_a_killed_creator_failed(trained_model, tmp_path):
    _killed_creator_test(trained_model, tmp_path, "ep-killed")
    listed = bigmart("endpoint", "list")
    (line,) = [line for line in listed.stdout.splitlines() if line.startswith("ep-killed ")]
    assert line.split()[1] == "Failed", listed.stdout
    shown = _status("ep-killed")
    assert shown["status"] == "Failed" and shown["failure_reason"].startswith(OWNER_GONE)
    assert shown["ended"] is not None


# --- delete signals only the endpoint's own server (issue 10, item 14) -------------------


@pytest.fixture
def unrelated_serve():
    """A live process that is not a server but whose command line says ``serve``."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "serve"])
    yield process
    process.kill()
    process.wait()


def _record_pointing_at(name: str, pid: int, **artifacts) -> None:
    jobs = store()
    jobs.create(name, "endpoint", {"model": "m"}, "InService", replace=True)
    jobs.update(name, kind="endpoint", artifacts={"port": 1, "pid": pid, **artifacts})


def test_delete_leaves_alone_a_process_that_reused_the_servers_pid(unrelated_serve):
    start_time = ProcessIdentity.of(unrelated_serve.pid).start_time
    _record_pointing_at("ep-reused", unrelated_serve.pid, start_time=start_time - 1)
    deleted = bigmart("endpoint", "delete", "ep-reused")
    assert deleted.returncode == 0, deleted.stderr
    assert "left alone" in deleted.stdout
    assert unrelated_serve.poll() is None  # still running
    assert store().get("ep-reused").status == "Deleted"


def test_delete_of_an_old_record_without_start_time_leaves_an_unverified_process_alone(
    unrelated_serve,
):
    _record_pointing_at("ep-old", unrelated_serve.pid, model_dir="/somewhere/ep-old/model")
    deleted = bigmart("endpoint", "delete", "ep-old")
    assert deleted.returncode == 0, deleted.stderr
    assert f"kill {unrelated_serve.pid}" in deleted.stdout
    assert unrelated_serve.poll() is None
    assert store().get("ep-old").status == "Deleted"


def test_delete_of_an_endpoint_whose_server_is_gone_says_so():
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)  # fmt: skip
    pid = int(finished.stdout)
    _record_pointing_at("ep-exited", pid, start_time=1)
    deleted = bigmart("endpoint", "delete", "ep-exited")
    assert deleted.returncode == 0 and store().get("ep-exited").status == "Deleted"
    assert "already exited" in deleted.stdout or "left alone" in deleted.stdout


def test_delete_stops_the_server_and_all_its_workers(trained_model):
    created = bigmart(
        "endpoint", "create", "--model", str(trained_model), "--name", "ep-tree", "--workers", "2"
    )
    assert created.returncode == 0, created.stderr
    try:
        artifacts = store().get("ep-tree").artifacts
        master = ProcessIdentity(artifacts["pid"], artifacts["start_time"])
        assert master.is_alive()
        workers = [pid for pid in master.group_members() if pid != master.pid]
        assert workers
    finally:
        deleted = bigmart("endpoint", "delete", "ep-tree")
    assert deleted.returncode == 0 and deleted.stdout.strip() == "endpoint ep-tree: Deleted"
    assert process_gone(master.pid) and all(process_gone(pid) for pid in workers)


# --- a server whose master is killed outright (issue 15) ---------------------------------


def _wait_until(condition, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_workers_end_with_a_sigkilled_master_and_the_endpoint_is_not_answering(trained_model):
    created = bigmart(
        "endpoint",
        "create",
        "--model",
        str(trained_model),
        "--name",
        "ep-orphans",
        "--workers",
        "2",
    )
    assert created.returncode == 0, created.stderr
    artifacts = store().get("ep-orphans").artifacts
    master = ProcessIdentity(artifacts["pid"], artifacts["start_time"])
    workers = [pid for pid in master.group_members() if pid != master.pid]
    try:
        assert workers
        os.kill(master.pid, signal.SIGKILL)
        # the kernel tells each worker its master died: they close the port and exit
        assert _wait_until(lambda: all(process_gone(pid) for pid in workers)), workers
        assert not _port_answers(artifacts["port"])
        listed = bigmart("endpoint", "list")
        (line,) = [line for line in listed.stdout.splitlines() if line.startswith("ep-orphans ")]
        assert line.split()[1] == "NotAnswering", listed.stdout
    finally:
        for pid in workers:
            if not process_gone(pid):
                os.kill(pid, signal.SIGKILL)
        deleted = bigmart("endpoint", "delete", "ep-orphans")
    assert deleted.returncode == 0 and "already exited" in deleted.stdout, deleted.stdout
    assert store().get("ep-orphans").status == "Deleted"


def _port_answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex(("127.0.0.1", port)) == 0
