"""Create calls run in the background, one process each, as SageMaker runs its jobs.

SageMaker answers CreateTrainingJob, CreateTransformJob and CreateEndpoint at once, with the
job InProgress (the endpoint Creating), and runs the work elsewhere. Here the local backend's
own Create call runs to its end in a worker process; the api answers as soon as the job's
record exists. Everything else is the backend's, unchanged: ``job_lifecycle`` writes every
status, a request refused before the record is created comes back as a refusal (no record),
and the worker runs in its own main thread, so its SIGTERM handling is the CLI's:
StopTrainingJob / StopTransformJob is a SIGTERM to the worker, which ends the job Stopped
(``train`` or the transform's ``serve`` stopped first). A process, not a thread: signals
reach only a main thread, and a stopped job must not take the server with it. Started with
``spawn``, since forking a process that runs threads (the server's) can copy a held lock.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Mapping
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from bigmart.api.errors import ApiError, internal, validation
from bigmart.errors import BigmartError, UserError
from bigmart.local.jobs import JobStore
from bigmart.local.lifecycle import Terminated
from bigmart.local.requests import ARN_PLACE, ArnPlace
from bigmart.local.sagemaker import LocalSageMaker

CONTEXT = multiprocessing.get_context("spawn")
#: Backend calls whose log is a CloudWatch-style stream of their own (``local.job_logs``).
STREAMED = frozenset({"create_training_job", "create_transform_job"})
#: How long ``close`` waits for stopped workers to record their end.
CLOSE_SECONDS = 40.0


class Workers:
    """The worker processes of one api server, by the kind and name of their job."""

    def __init__(self, home: Path, engine: str) -> None:
        self.home = home
        self.engine = engine
        self._running: dict[tuple[str, str], BaseProcess] = {}
        self._lock = threading.Lock()

    def start(
        self, method: str, kind: str, name: str, request: Mapping[str, Any], **options: Any
    ) -> None:
        """Run ``LocalSageMaker.<method>(request, **options)`` in a worker and return once
        the ``kind`` job ``name`` is recorded; raise what refused it if it never was. The
        worker names resources as the call being answered does (``ARN_PLACE``)."""
        receiver, sender = CONTEXT.Pipe(duplex=False)
        job = (kind, name, ARN_PLACE.get())
        process = CONTEXT.Process(
            target=run_worker,
            args=(self.home, self.engine, method, job, dict(request), options, sender),
            name=f"bigmart-api-{kind}-{name}",
        )
        process.start()
        sender.close()  # the worker holds the only sending end: its exit ends ``recv``
        try:
            answer, detail = receiver.recv()
        except EOFError:
            process.join()
            raise internal(
                f"the worker of {name!r} exited (code {process.exitcode}) before the job was "
                "recorded; see the server's log"
            ) from None
        finally:
            receiver.close()
        if answer == "refused":
            process.join()
            code, message, status = detail
            raise ApiError(code, message, status)
        with self._lock:
            self._reap()
            self._running[kind, name] = process

    def stop(self, kind: str, name: str) -> None:
        """Ask the ``kind`` job ``name``'s worker to stop it (SIGTERM: it ends Stopped)."""
        with self._lock:
            process = self._running.get((kind, name))
        if process is None or not process.is_alive() or process.pid is None:
            raise validation(f"job {name!r} is not running in this server, so it cannot be stopped")
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)

    def close(self) -> None:
        """Stop every running job (each ends Stopped) and wait for its worker to end."""
        with self._lock:
            running = [p for p in self._running.values() if p.is_alive()]
        for process in running:
            if process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
        for process in running:
            process.join(CLOSE_SECONDS)

    def _reap(self) -> None:
        for job in [job for job, p in self._running.items() if not p.is_alive()]:
            self._running.pop(job).join()


class AnnouncingStore(JobStore):
    """The job store, telling the api the moment the worker's job is recorded."""

    def __init__(self, home: Path, connection: Connection) -> None:
        super().__init__(home)
        self.connection = connection
        self.announced = False

    def create(self, *args: Any, **kwargs: Any) -> None:
        super().create(*args, **kwargs)
        self.answer("created", None)

    def update(self, *args: Any, **kwargs: Any) -> None:
        """A call on an existing record (UpdateEndpoint) is under way at its first write."""
        super().update(*args, **kwargs)
        self.answer("created", None)

    def answer(self, kind: str, detail: Any) -> None:
        """The first answer reaches the api; later ones are the record's business."""
        if not self.announced:
            self.announced = True
            self.connection.send((kind, detail))
            self.connection.close()


def run_worker(
    home: Path,
    engine: str,
    method: str,
    job: tuple[str, str, ArnPlace],
    request: dict[str, Any],
    options: dict[str, Any],
    connection: Connection,
) -> None:
    """A worker's whole life: one Create call of the local backend, to its end."""
    kind, name, place = job
    ARN_PLACE.set(place)
    store = AnnouncingStore(home, connection)
    # A training or transform job's lines already go to its CloudWatch-style stream
    # (``job_logs``); an endpoint call's have no stream, so they are kept in a file.
    kept = None if method in STREAMED else home / "logs" / kind / f"{name}.log"
    backend = LocalSageMaker(store, engine=engine, echo=JobLog(name, kept).write)
    try:
        getattr(backend, method)(request, **options)
    except BigmartError as error:
        # Refused before the record: the api answers it. After: the record says Failed.
        code = "ValidationException" if isinstance(error, UserError) else "InternalFailure"
        store.answer("refused", (code, str(error), error.status_code))
    except (Terminated, KeyboardInterrupt) as error:
        # StopTrainingJob or the server's shutdown: the record already says Stopped.
        store.answer("refused", ("InternalFailure", f"stopped before it started: {error}", 500))
    except BaseException as error:
        store.answer("refused", ("InternalFailure", f"{type(error).__name__}: {error}", 500))
        raise
    store.answer("created", None)  # already said when the record was created


class JobLog:
    """A worker's lines on the server's output, prefixed by the job's name, and appended to
    ``path`` when given (``<state>/logs/<kind>/<name>.log``: a reused endpoint name
    continues it)."""

    def __init__(self, name: str, path: Path | None) -> None:
        self.name = name
        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, line: str) -> None:
        if self.path is not None:
            with self.path.open("a") as log:
                log.write(line + "\n")
        print(f"[{self.name}] {line}", file=sys.stdout, flush=True)
