"""The record of every local training job, transform job and endpoint, in SQLite.

The database lives in the state folder (``$BIGMART_HOME``, default ``~/.bigmart``). WAL
mode and a busy timeout let several jobs write at once without corrupting it or failing:
each change is one short transaction. A store that cannot be written (a full disk, a
read-only folder) raises ``JobStoreError``, one line naming the database and the reason.
Records are keyed by kind and name, as SageMaker's names are unique per resource type. The
layout has a version (``SCHEMA_VERSION``); a database of an older one is migrated in place,
in one transaction, when it is opened.

A local job's record names the process that owns it (PID, start time, boot, PID
namespace). A process killed outright (``kill -9``, a power cut) cannot record its end, so
whoever reads the record next and finds that process gone marks the job Failed, as
SageMaker shows a job whose instance failed. A change under way on a live resource (an
endpoint's update) names its process the same way; the store cannot undo the change
itself, so it flags the record (``owner_gone``) for the resource's own code to.

Changes of a record's state that must not interleave across processes (an endpoint updated,
deleted or revived at once by the api and the CLI) hold its lock (``JobStore.locked``).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bigmart.contract import EndpointStatus, JobStatus
from bigmart.errors import BigmartError, UserError
from bigmart.local.processes import ProcessIdentity, boot_id, pid_namespace

KINDS = ("training", "transform", "endpoint")
#: The kind of an endpoint's record.
ENDPOINT = "endpoint"
#: How each kind is named in messages, as SageMaker names it.
LABELS = {"training": "training job", "transform": "transform job", "endpoint": "endpoint"}
PREPARE_SECONDS = 30.0
#: The database's layout (SQLite's ``user_version``): 0 is the first, whose jobs were keyed
#: by name alone; 1 keys them by (kind, name), as SageMaker's names are unique per kind.
SCHEMA_VERSION = 1
JOBS_TABLE = """
CREATE TABLE IF NOT EXISTS {table} (
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    ended REAL,
    parameters TEXT NOT NULL DEFAULT '{{}}',
    metrics TEXT NOT NULL DEFAULT '{{}}',
    artifacts TEXT NOT NULL DEFAULT '{{}}',
    failure_reason TEXT,
    owner TEXT,
    modified REAL,
    PRIMARY KEY (kind, name)
)
"""
#: Columns added to the first layout after its release: a database made before them gains
#: them before it is migrated. ``modified``: when the status was last written (SageMaker's
#: LastModifiedTime).
ADDED_COLUMNS = {"owner": "TEXT", "modified": "REAL"}
#: Models and endpoint configs: SageMaker resources with no status of their own. Their
#: names are their own namespace per kind, as on SageMaker (model ``x`` and endpoint ``x``).
RESOURCES_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    created REAL NOT NULL,
    request TEXT NOT NULL,
    PRIMARY KEY (kind, name)
)
"""
RESOURCE_KINDS = ("model", "endpoint-config")
COLUMNS = (
    "name, kind, status, created, ended, parameters, metrics, artifacts, failure_reason, modified"
)
STORED_COLUMNS = f"{COLUMNS}, owner"
#: Statuses of a local job still running; its owner must be alive for them to hold.
RUNNING = (JobStatus.IN_PROGRESS, EndpointStatus.CREATING)
#: Statuses of a change under way on a live resource: its owner must be alive for them to
#: hold, and when it is not, the resource's code undoes the change (``owner_gone``).
CHANGING = (EndpointStatus.UPDATING,)
OWNER_GONE = "the job's process ended without reporting"


class RequestRefused(UserError, ValueError):
    """SageMaker's ValidationException: the request cannot run as given (a name in use,
    a missing channel or model, a bad option). Raised before the job runs, or from inside
    it, which ends its record Failed."""


class JobStoreError(BigmartError, RuntimeError):
    """The job database cannot be read or written (a full disk, a read-only folder)."""


@dataclass
class JobRecord:
    """One job or endpoint as the user sees it in ``bigmart jobs``."""

    name: str
    kind: str
    status: str
    created: float
    ended: float | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)
    failure_reason: str | None = None
    #: When the status was last written (None in records from before it was kept).
    modified: float | None = None
    #: A change under way (``CHANGING``) whose process ended without finishing it.
    owner_gone: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "created": _iso(self.created),
            "ended": _iso(self.ended) if self.ended else None,
            "seconds": round(self.ended - self.created, 3) if self.ended else None,
            "parameters": self.parameters,
            "metrics": self.metrics,
            "artifacts": self.artifacts,
            "failure_reason": self.failure_reason,
        }


def one(kind: str) -> str:
    """A record of ``kind`` in words: "a training job", "an endpoint"."""
    label = LABELS[kind]
    return f"{'an' if label[0] in 'aeiou' else 'a'} {label}"


def state_home() -> Path:
    """The state folder: ``$BIGMART_HOME`` or ``~/.bigmart``."""
    return Path(os.environ.get("BIGMART_HOME") or Path.home() / ".bigmart")


class JobStore:
    """Job records in ``<state>/jobs.db``."""

    def __init__(self, home: Path | None = None) -> None:
        self.home = home or state_home()
        self.path = self.home / "jobs.db"
        self._held = threading.local()  # the names whose lock this thread holds
        try:
            self.home.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise JobStoreError(
                f"cannot create the state folder {str(self.home)!r} ({error.strerror}); "
                "set BIGMART_HOME to a writable folder"
            ) from None
        self._prepare()

    def _prepare(self) -> None:
        """Create the tables (or bring an older database to this layout) and switch to WAL,
        retrying while another process does the same.

        SQLite answers "database is locked" at once, without waiting on the busy timeout,
        when two connections change the journal mode together (seen in CI with four
        processes opening a new store), so the first opening retries for a bounded time.
        """
        deadline = time.monotonic() + PREPARE_SECONDS
        while True:
            try:
                with self._connection(raw=True) as connection:
                    mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
                    if str(mode).lower() != "wal":
                        connection.execute("PRAGMA journal_mode=WAL")
                    self._in_transaction(connection, self._bring_up_to_date)
                return
            except sqlite3.OperationalError as error:
                if not _is_busy(error) or time.monotonic() > deadline:
                    raise self._error(error) from None
                time.sleep(0.05)
            except sqlite3.Error as error:
                raise self._error(error) from None

    @staticmethod
    def _in_transaction(
        connection: sqlite3.Connection, work: Callable[[sqlite3.Connection], None]
    ) -> None:
        """``work`` as one write transaction: all of it, or (on any error) none of it."""
        connection.execute("BEGIN IMMEDIATE")
        try:
            work(connection)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def _bring_up_to_date(self, connection: sqlite3.Connection) -> None:
        """The tables of this layout: made in a new database, migrated in an older one (in
        the caller's transaction, so a migration cut short leaves the database as it was)."""
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise JobStoreError(
                f"job store {str(self.path)!r}: its layout (version {version}) is newer than "
                f"this bigmart's ({SCHEMA_VERSION}); upgrade bigmart, or set BIGMART_HOME to "
                "another folder"
            )
        if version < SCHEMA_VERSION and _has_table(connection, "jobs"):
            for step in MIGRATIONS[version:]:
                step(connection)
        connection.execute(JOBS_TABLE.format(table="jobs"))
        connection.execute(RESOURCES_SCHEMA)
        if version != SCHEMA_VERSION:
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _connection(self, *, raw: bool = False) -> Iterator[sqlite3.Connection]:
        """One connection; an SQLite failure other than a broken constraint (a full
        disk, an I/O error, a read-only or corrupt database) becomes ``JobStoreError``
        (``raw`` leaves SQLite's own errors to the caller)."""
        try:
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as error:
            if raw:
                raise
            raise self._error(error) from None
        try:
            connection.execute("PRAGMA busy_timeout=30000")
            yield connection
        except sqlite3.Error as error:
            if raw or isinstance(error, sqlite3.IntegrityError):
                raise
            raise self._error(error) from None
        finally:
            connection.close()

    def _error(self, error: sqlite3.Error) -> JobStoreError:
        return JobStoreError(
            f"job store {str(self.path)!r}: {error} (free space under {str(self.home)!r}, "
            "or set BIGMART_HOME to another folder)"
        )

    def create(
        self,
        name: str,
        kind: str,
        parameters: Mapping[str, Any],
        status: str,
        *,
        replace: bool = False,
        owner: ProcessIdentity | None = None,
    ) -> None:
        """Record a new job; a name already used by that kind is an error (names are
        unique per kind, as on SageMaker: a training job and an endpoint may share one).

        ``replace`` overwrites the old record: an endpoint name is free again once the
        endpoint is deleted or failed, as on SageMaker. ``owner`` is the local process that
        will end the job (see ``owned_by_me``); a job run elsewhere (SageMaker) has none.
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        now = time.time()
        try:
            with self._connection() as connection:
                connection.execute(
                    f"{verb} INTO jobs (name, kind, status, created, parameters, owner, modified) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        name,
                        kind,
                        status,
                        now,
                        json.dumps(dict(parameters), default=str),
                        _owner_text(owner),
                        now,
                    ),
                )
        except sqlite3.IntegrityError:
            raise RequestRefused(f"{one(kind)} named {name!r} already exists") from None

    def update(
        self,
        name: str,
        *,
        kind: str,
        status: str | None = None,
        metrics: Mapping[str, Any] | None = None,
        artifacts: Mapping[str, Any] | None = None,
        failure_reason: str | None = None,
        ended: bool = False,
        ended_at: float | None = None,
        created_at: float | None = None,
        parameters: Mapping[str, Any] | None = None,
        owner: ProcessIdentity | None = None,
    ) -> None:
        """Change the ``kind`` record's status and outcome (only the fields given), in one
        write: an updated endpoint's new config (``parameters``) and server switch together.

        ``ended`` stamps the end as now; ``ended_at`` and ``created_at`` give a remote job's
        own times, so its duration is measured on one (AWS's) clock. ``owner`` is the
        process a change under way (``CHANGING``) depends on.
        """
        changes: dict[str, Any] = {}
        if status is not None:
            changes["status"] = status
            changes["modified"] = time.time()
        if owner is not None:
            changes["owner"] = _owner_text(owner)
        if metrics is not None:
            changes["metrics"] = json.dumps(dict(metrics))
        if artifacts is not None:
            changes["artifacts"] = json.dumps(dict(artifacts), default=str)
        if parameters is not None:
            changes["parameters"] = json.dumps(dict(parameters), default=str)
        if failure_reason is not None:
            changes["failure_reason"] = failure_reason
        if created_at is not None:
            changes["created"] = created_at
        if ended_at is not None:
            changes["ended"] = ended_at
        elif ended:
            changes["ended"] = time.time()
        if not changes:
            return
        assignments = ", ".join(f"{column} = ?" for column in changes)
        with self._connection() as connection:
            connection.execute(
                f"UPDATE jobs SET {assignments} WHERE kind = ? AND name = ?",
                (*changes.values(), kind, name),
            )

    def get(self, name: str, kind: str | None = None) -> JobRecord | None:
        """The ``kind`` record of that name (any kind's, if the name is only one's); one
        whose owner died without ending it is ended Failed first."""
        records = self.find(name, kind)
        if len(records) > 1:
            kinds = " and ".join(one(record.kind) for record in records)
            raise RequestRefused(f"{name!r} names {kinds}; say which kind")
        return records[0] if records else None

    def find(self, name: str, kind: str | None = None) -> list[JobRecord]:
        """Every record of that name (of ``kind``): one per kind at most."""
        query = f"SELECT {STORED_COLUMNS} FROM jobs WHERE name = ?"
        arguments: tuple[Any, ...] = (name,)
        if kind is not None:
            query += " AND kind = ?"
            arguments = (name, kind)
        with self._connection() as connection:
            rows = connection.execute(query + " ORDER BY created, kind", arguments).fetchall()
        return [self._checked(row) for row in rows]

    def list(self, kind: str | None = None) -> list[JobRecord]:
        """Every record (of ``kind``), oldest first, each checked as ``get`` does."""
        query = f"SELECT {STORED_COLUMNS} FROM jobs"
        arguments: tuple[Any, ...] = ()
        if kind is not None:
            query += " WHERE kind = ?"
            arguments = (kind,)
        with self._connection() as connection:
            rows = connection.execute(query + " ORDER BY created, name", arguments).fetchall()
        return [self._checked(row) for row in rows]

    def put_resource(self, kind: str, name: str, request: Mapping[str, Any]) -> None:
        """Record a model or endpoint config (its Create request); a name already used for
        that kind is an error, as on SageMaker."""
        if kind not in RESOURCE_KINDS:
            raise ValueError(f"kind must be one of {RESOURCE_KINDS}")
        try:
            with self._connection() as connection:
                connection.execute(
                    "INSERT INTO resources (kind, name, created, request) VALUES (?, ?, ?, ?)",
                    (kind, name, time.time(), json.dumps(dict(request), default=str)),
                )
        except sqlite3.IntegrityError:
            raise RequestRefused(f"a {kind} named {name!r} already exists") from None

    def get_resource(self, kind: str, name: str) -> tuple[dict[str, Any], float] | None:
        """A model's or endpoint config's request and creation time, or None."""
        with self._connection() as connection:
            row = connection.execute(
                "SELECT request, created FROM resources WHERE kind = ? AND name = ?", (kind, name)
            ).fetchone()
        return (json.loads(row[0]), row[1]) if row else None

    def resource(self, kind: str, name: str, label: str) -> tuple[dict[str, Any], float]:
        """A model's or endpoint config's request and creation time; refused if there is
        none, in SageMaker's words (``label``: model, endpoint configuration)."""
        found = self.get_resource(kind, name)
        if found is None:
            raise RequestRefused(f"Could not find {label} {name!r}.")
        return found

    def list_resources(self, kind: str) -> list[tuple[str, dict[str, Any], float]]:
        """Every ``kind`` resource as (name, request, created), oldest first."""
        with self._connection() as connection:
            rows = connection.execute(
                "SELECT name, request, created FROM resources WHERE kind = ? "
                "ORDER BY created, name",
                (kind,),
            ).fetchall()
        return [(name, json.loads(request), created) for name, request, created in rows]

    def delete_resource(self, kind: str, name: str) -> bool:
        """Forget a model or endpoint config; False if there was none."""
        with self._connection() as connection:
            cursor = connection.execute(
                "DELETE FROM resources WHERE kind = ? AND name = ?", (kind, name)
            )
        return cursor.rowcount > 0

    @contextmanager
    def locked(self, name: str) -> Iterator[None]:
        """Hold record ``name``'s lock: one process, and one thread, at a time changes its
        state. An flock of ``<state>/locks/<name>.lock``, so the kernel releases it when its
        holder dies, even by SIGKILL; a thread that holds it already just goes on."""
        held: set[str] = self._held.__dict__.setdefault("names", set())
        if name in held:
            yield
            return
        path = self.home / "locks" / f"{name}.lock"
        try:
            path.parent.mkdir(exist_ok=True)
            handle = path.open("a")
        except OSError as error:
            raise JobStoreError(
                f"cannot open the lock {str(path)!r} ({error.strerror}); "
                "set BIGMART_HOME to a writable folder"
            ) from None
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
            held.add(name)
            try:
                yield
            finally:
                held.discard(name)

    def scratch(self, kind: str, name: str) -> Path:
        """The folder where a running job keeps what only it needs (a transform's copy of
        its model): the job removes it when it ends, and so does the reader that ends the
        job of an owner found gone, which could not."""
        return self.home / "jobs" / name / f"{kind}-scratch"

    def _checked(self, row: tuple[Any, ...]) -> JobRecord:
        """The record of ``row``; if it says running but its owner is gone, it is ended
        Failed (in the database too, once: the update only applies while it still says
        running, so a job that ended meanwhile keeps its own outcome). A change under way
        whose owner is gone is only flagged (``owner_gone``)."""
        record = _record(row[:-1])
        if record.status in CHANGING:
            record.owner_gone = _owner_gone(row[-1])
            return record
        if record.status not in RUNNING or not _owner_gone(row[-1]):
            return record
        now = time.time()
        reason = owner_gone_reason(now)
        with self._connection() as connection:
            connection.execute(
                "UPDATE jobs SET status = 'Failed', failure_reason = ?, ended = ?, modified = ? "
                "WHERE kind = ? AND name = ? AND status = ? AND owner = ?",
                (reason, now, now, record.kind, record.name, record.status, row[-1]),
            )
            fresh = connection.execute(
                f"SELECT {COLUMNS} FROM jobs WHERE kind = ? AND name = ?",
                (record.kind, record.name),
            ).fetchone()
        shutil.rmtree(self.scratch(record.kind, record.name), ignore_errors=True)
        return _record(fresh) if fresh else record


def _has_table(connection: sqlite3.Connection, table: str) -> bool:
    query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    return connection.execute(query, (table,)).fetchone() is not None


def _keyed_by_kind(connection: sqlite3.Connection) -> None:
    """Layout 0 to 1: the jobs table rebuilt with the key (kind, name); every record kept.
    A database made before the ``owner`` column gains it first."""
    present = {row[1] for row in connection.execute("PRAGMA table_info(jobs)")}
    for column, declaration in ADDED_COLUMNS.items():
        if column not in present:
            connection.execute(f"ALTER TABLE jobs ADD COLUMN {column} {declaration}")
    connection.execute(JOBS_TABLE.format(table="jobs_by_kind"))
    connection.execute(
        f"INSERT INTO jobs_by_kind ({STORED_COLUMNS}) SELECT {STORED_COLUMNS} FROM jobs"
    )
    connection.execute("DROP TABLE jobs")
    connection.execute("ALTER TABLE jobs_by_kind RENAME TO jobs")


#: The step from each older layout to the next, by the older one's version.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_keyed_by_kind]


def _is_busy(error: sqlite3.OperationalError) -> bool:
    text = str(error).lower()
    return "locked" in text or "busy" in text


def owned_by_me() -> ProcessIdentity | None:
    """This process, as the owner of a job it runs."""
    return ProcessIdentity.of(os.getpid())


def owner_gone_reason(now: float) -> str:
    """Why a record's running state ended: its process was found gone at ``now``."""
    return f"{OWNER_GONE} (found gone at {_iso(now)})"


def _owner_text(owner: ProcessIdentity | None) -> str | None:
    if owner is None:
        return None
    return json.dumps(
        {
            "pid": owner.pid,
            "start_time": owner.start_time,
            "boot_id": boot_id(),
            "pid_namespace": pid_namespace(),
        }
    )


def _owner_gone(text: str | None) -> bool:
    """True if the owner recorded in ``text`` certainly no longer runs. Not known (no owner,
    an unreadable one, or one in another PID namespace, such as a container sharing the
    state folder): False, the record is left as it is."""
    if not text:
        return False
    try:
        owner = json.loads(text)
        identity = ProcessIdentity(int(owner["pid"]), int(owner["start_time"]))
    except (ValueError, TypeError, KeyError):
        return False
    if owner.get("boot_id") and boot_id() and owner["boot_id"] != boot_id():
        return True  # the machine restarted since: every process of that boot is gone
    if owner.get("pid_namespace") != pid_namespace():
        return False  # its PIDs are not ours to look up
    return not identity.is_alive()


def _record(row: tuple[Any, ...]) -> JobRecord:
    name, kind, status, created, ended, parameters, metrics, artifacts, failure, modified = row
    return JobRecord(
        name=name,
        kind=kind,
        status=status,
        created=created,
        ended=ended,
        parameters=json.loads(parameters),
        metrics=json.loads(metrics),
        artifacts=json.loads(artifacts),
        failure_reason=failure,
        modified=modified,
    )


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
