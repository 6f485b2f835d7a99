"""The job store: concurrent writers, a full disk, a lock; and a record whose process died
without reporting is shown Failed, not InProgress (issue 11)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bigmart.data import synthetic as synth
from bigmart.local.jobs import JobStore, JobStoreError
from support.cli import show_job, train_argv


def _writer(home: str, worker: int, count: int) -> None:
    store = JobStore(Path(home))
    for i in range(count):
        name = f"job-{worker}-{i}"
        store.create(name, "transform", {"worker": worker}, "InProgress")
        store.update(name, kind="transform", status="Completed", metrics={"records": i}, ended=True)


def test_concurrent_processes_do_not_corrupt_or_lose_records(tmp_path):
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(str(tmp_path), w, 40)) for w in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
        assert process.exitcode == 0
    records = JobStore(tmp_path).list()
    assert len(records) == 160
    assert {r.status for r in records} == {"Completed"}
    assert all(r.ended is not None and r.metrics["records"] >= 0 for r in records)


def test_names_are_unique_and_records_round_trip(tmp_path):
    store = JobStore(tmp_path)
    store.create("a", "training", {"hp": {"n_estimators": "5"}}, "InProgress")
    with pytest.raises(ValueError, match="a training job named 'a' already exists"):
        store.create("a", "training", {}, "InProgress")
    store.update("a", kind="training", status="Failed", failure_reason="Bad data: x", ended=True)
    record = store.get("a")
    assert record is not None and record.status == "Failed"
    assert record.parameters == {"hp": {"n_estimators": "5"}}
    assert record.as_dict()["failure_reason"] == "Bad data: x"
    assert store.get("missing") is None


def test_names_are_unique_per_kind_as_on_sagemaker(tmp_path):
    store = JobStore(tmp_path)
    store.create("a", "training", {"job": 1}, "InProgress")
    store.create("a", "endpoint", {"endpoint": 1}, "Creating")
    store.create("a", "transform", {"transform": 1}, "InProgress")
    with pytest.raises(ValueError, match="an endpoint named 'a' already exists"):
        store.create("a", "endpoint", {}, "Creating")
    store.update("a", kind="endpoint", status="InService")
    assert store.get("a", "endpoint").status == "InService"
    assert store.get("a", "training").status == "InProgress"  # only the endpoint changed
    assert [r.kind for r in store.find("a")] == ["training", "endpoint", "transform"]
    ambiguous = "'a' names a training job and an endpoint and a transform job; say which kind"
    with pytest.raises(ValueError, match=ambiguous):
        store.get("a")  # which one is meant must be said
    assert store.get("a", "transform").parameters == {"transform": 1}
    assert [r.kind for r in store.list()] == ["training", "endpoint", "transform"]


# -- a full disk under $BIGMART_HOME is one line, never a traceback (issue 10, item 6) ----


def test_a_full_database_raises_one_line_naming_it(tmp_path, monkeypatch):
    import sqlite3

    from bigmart.local import jobs

    store = JobStore(tmp_path)
    store.create("first", "training", {}, "InProgress")
    connect = sqlite3.connect

    def full(*args, **kwargs):  # type: ignore[no-untyped-def]
        # SQLite's own "disk full" (SQLITE_FULL): the database may not grow by a page.
        connection = connect(*args, **kwargs)
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count={pages}")
        return connection

    monkeypatch.setattr(jobs.sqlite3, "connect", full)
    with pytest.raises(JobStoreError) as caught:
        for index in range(1000):
            store.create(f"job-{index}", "training", {"padding": "x" * 4000}, "InProgress")
    message = str(caught.value)
    assert message.startswith(f"job store {str(tmp_path / 'jobs.db')!r}: database or disk is full")
    assert "\n" not in message
    with pytest.raises(ValueError, match="already exists"):  # a broken constraint stays itself
        store.create("first", "training", {}, "InProgress")


def test_a_state_folder_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(JobStoreError, match=r"cannot create the state folder .* set BIGMART_HOME"):
        JobStore(tmp_path / "file" / "home")


def test_bigmart_with_its_state_folder_on_a_full_disk_prints_one_line(tmp_path):
    import os
    import resource
    import signal
    import subprocess

    def no_room() -> None:  # writes fail (EFBIG) as on a full disk, without root or tmpfs
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

    home = tmp_path / "home"
    result = subprocess.run(
        [str(Path(sys.executable).with_name("bigmart")), "jobs"],
        env={**os.environ, "BIGMART_HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1"},
        preexec_fn=no_room,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"bigmart: error: job store {str(home / 'jobs.db')!r}: ")
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr


def test_opening_a_new_store_retries_while_another_process_holds_the_lock(tmp_path, monkeypatch):
    """SQLite answers "database is locked" at once (no busy wait) when two processes switch
    a new database to WAL together; opening the store retries instead of failing."""
    import sqlite3

    from bigmart.local import jobs

    connect = sqlite3.connect
    refusals = {"left": 3}

    class Contended:
        def __init__(self, connection: sqlite3.Connection) -> None:
            self._connection = connection

        def execute(self, sql: str, *args):  # type: ignore[no-untyped-def]
            if sql.startswith("PRAGMA journal_mode=") and refusals["left"] > 0:
                refusals["left"] -= 1
                raise sqlite3.OperationalError("database is locked")
            return self._connection.execute(sql, *args)

        def close(self) -> None:
            self._connection.close()

    monkeypatch.setattr(jobs.sqlite3, "connect", lambda *a, **k: Contended(connect(*a, **k)))
    store = JobStore(tmp_path)
    assert refusals["left"] == 0
    monkeypatch.setattr(jobs.sqlite3, "connect", connect)
    store.create("after", "training", {}, "InProgress")
    assert store.get("after") is not None


def test_a_lock_that_never_clears_ends_in_one_line_naming_the_store(tmp_path, monkeypatch):
    import sqlite3

    from bigmart.local import jobs

    connect = sqlite3.connect

    class Locked:
        def __init__(self, connection: sqlite3.Connection) -> None:
            self._connection = connection

        def execute(self, sql: str, *args):  # type: ignore[no-untyped-def]
            if sql.startswith("PRAGMA journal_mode="):
                raise sqlite3.OperationalError("database is locked")
            return self._connection.execute(sql, *args)

        def close(self) -> None:
            self._connection.close()

    monkeypatch.setattr(jobs, "PREPARE_SECONDS", 0.2)
    monkeypatch.setattr(jobs.sqlite3, "connect", lambda *a, **k: Locked(connect(*a, **k)))
    with pytest.raises(JobStoreError, match=r"jobs\.db.*database is locked"):
        JobStore(tmp_path)


GONE = "the job's process ended without reporting"


def test_a_training_job_killed_outright_is_shown_failed_not_in_progress(tmp_path):
    data = tmp_path / "train.csv"
    synth.write_csv(data, 8_000, seed=2)
    environment = {**os.environ, "BIGMART_HOME": str(tmp_path)}
    process = subprocess.Popen(
        train_argv(data, str(tmp_path / "runs"), "killed", trees=3000),
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
    record_shown = show_job("killed", environment)
    assert record_shown["status"] == "Failed"
    assert str(record_shown["failure_reason"]).startswith(GONE)
    assert record_shown["ended"] is not None
    # The verdict is stored: a second reader sees the same record, not a new time.
    assert show_job("killed", environment) == record_shown


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


#: The jobs table of layout 0, as bigmart wrote it before records were keyed by kind.
FIRST_LAYOUT = (
    "CREATE TABLE IF NOT EXISTS jobs (name TEXT PRIMARY KEY, kind TEXT NOT NULL, "
    "status TEXT NOT NULL, created REAL NOT NULL, ended REAL, "
    "parameters TEXT NOT NULL DEFAULT '{}', metrics TEXT NOT NULL DEFAULT '{}', "
    "artifacts TEXT NOT NULL DEFAULT '{}', failure_reason TEXT, owner TEXT)"
)
FIRST_RESOURCES = (
    "CREATE TABLE IF NOT EXISTS resources (kind TEXT NOT NULL, name TEXT NOT NULL, "
    "created REAL NOT NULL, request TEXT NOT NULL, PRIMARY KEY (kind, name))"
)


def _first_layout_store(home: Path) -> None:
    """A jobs.db as the previous bigmart left it: WAL, name-keyed jobs, two records."""
    import sqlite3

    home.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(home / "jobs.db", isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(FIRST_LAYOUT)
    connection.execute(FIRST_RESOURCES)
    connection.execute(
        "INSERT INTO jobs (name, kind, status, created, ended, parameters, metrics, artifacts) "
        "VALUES ('demo', 'training', 'Completed', 1, 2, '{\"hp\": 1}', '{\"rmse\": 3.5}', "
        '\'{"model": "/m.tar.gz"}\')'
    )
    connection.execute(
        "INSERT INTO jobs (name, kind, status, created, ended, failure_reason) "
        "VALUES ('ep', 'endpoint', 'Deleted', 3, 4, NULL)"
    )
    connection.execute(
        "INSERT INTO resources VALUES ('model', 'demo', 5, '{\"ModelName\": \"demo\"}')"
    )
    connection.close()


def _layout(home: Path) -> tuple[int, list[str]]:
    """The database's version and the primary key of its jobs table."""
    import sqlite3

    connection = sqlite3.connect(home / "jobs.db")
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    columns = connection.execute("PRAGMA table_info(jobs)").fetchall()
    connection.close()
    return version, [row[1] for row in sorted(columns, key=lambda row: row[5]) if row[5]]


def test_a_database_keyed_by_name_is_migrated_in_place_keeping_every_record(tmp_path):
    _first_layout_store(tmp_path)
    assert _layout(tmp_path) == (0, ["name"])
    store = JobStore(tmp_path)
    assert _layout(tmp_path) == (1, ["kind", "name"])
    demo, endpoint = store.list()
    assert (demo.name, demo.kind, demo.status, demo.created, demo.ended) == (
        "demo",
        "training",
        "Completed",
        1,
        2,
    )
    assert (demo.parameters, demo.metrics, demo.artifacts) == (
        {"hp": 1},
        {"rmse": 3.5},
        {"model": "/m.tar.gz"},
    )
    assert (endpoint.name, endpoint.kind, endpoint.status) == ("ep", "endpoint", "Deleted")
    assert store.get_resource("model", "demo") == ({"ModelName": "demo"}, 5)
    # Now the name a training job has may be an endpoint's too; not another training job's.
    store.create("demo", "endpoint", {}, "Creating")
    with pytest.raises(ValueError, match="already exists"):
        store.create("demo", "training", {}, "InProgress")
    assert [(r.name, r.kind) for r in JobStore(tmp_path).list()][-1] == ("demo", "endpoint")


def test_a_migration_cut_short_leaves_the_old_database_as_it_was(tmp_path, monkeypatch):
    from bigmart.local import jobs

    _first_layout_store(tmp_path)
    (step,) = jobs.MIGRATIONS

    def fails_after_the_copy(connection):  # type: ignore[no-untyped-def]
        step(connection)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(jobs, "MIGRATIONS", [fails_after_the_copy])
    with pytest.raises(OSError):
        JobStore(tmp_path)
    assert _layout(tmp_path) == (0, ["name"])  # nothing of the half-made layout is kept
    monkeypatch.setattr(jobs, "MIGRATIONS", [step])
    assert [r.name for r in JobStore(tmp_path).list()] == ["demo", "ep"]
    assert _layout(tmp_path) == (1, ["kind", "name"])


def test_a_database_of_a_newer_layout_is_refused_in_one_line(tmp_path):
    import sqlite3

    JobStore(tmp_path)
    connection = sqlite3.connect(tmp_path / "jobs.db")
    connection.execute("PRAGMA user_version = 7")
    connection.commit()
    connection.close()
    with pytest.raises(JobStoreError, match=r"jobs\.db.*version 7.* newer .*upgrade bigmart"):
        JobStore(tmp_path)


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


def test_an_update_whose_owner_is_gone_is_flagged_for_the_endpoint_code_not_failed(tmp_path):
    from bigmart.local.processes import ProcessIdentity

    me = ProcessIdentity.of(os.getpid())
    assert me is not None
    store = JobStore(tmp_path)
    store.create("ep", "endpoint", {}, "InService")
    gone = ProcessIdentity(me.pid, me.start_time - 1)
    store.update("ep", kind="endpoint", status="Updating", owner=gone)
    record = store.get("ep")
    assert record is not None and (record.status, record.owner_gone) == ("Updating", True)
    assert record.ended is None and not record.failure_reason  # its undoing is not the store's
    store.update("ep", kind="endpoint", status="Updating", owner=me)
    assert store.get("ep").owner_gone is False
    store.update("ep", kind="endpoint", status="InService")  # the owner no longer matters
    assert store.get("ep").owner_gone is False


def test_a_status_written_moves_the_modified_time_and_nothing_else_does(tmp_path):
    store = JobStore(tmp_path)
    store.create("ep", "endpoint", {}, "Creating")
    created = store.get("ep")
    assert created.modified == created.created
    store.update("ep", kind="endpoint", artifacts={"port": 1})
    assert store.get("ep").modified == created.modified
    time.sleep(0.01)  # a clock that moves, not a measured duration
    store.update("ep", kind="endpoint", status="InService")
    assert store.get("ep").modified > created.modified


HOLD = """
import sys, time
from pathlib import Path
from bigmart.local.jobs import JobStore
with JobStore(Path(sys.argv[1])).locked("ep"):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_records_lock_is_one_holders_at_a_time_and_freed_when_it_is_killed(tmp_path):
    import fcntl

    store = JobStore(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with open(tmp_path / "locks" / "ep.lock") as lock, pytest.raises(BlockingIOError):
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        holder.kill()  # SIGKILL: the kernel releases its lock
        holder.wait()
    with (
        store.locked("ep"),
        store.locked("ep"),  # its holder may take it again
        open(tmp_path / "locks" / "ep.lock") as lock,
        pytest.raises(BlockingIOError),
    ):
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
