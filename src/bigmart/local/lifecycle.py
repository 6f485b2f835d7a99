"""A local job's life in one place: created, running, and ended whatever happens inside.

SageMaker never leaves a job InProgress because something inside it broke: an upload that
fails, a full disk, a bug, the instance going away all end it Failed, and StopTrainingJob
ends it Stopped. ``job_lifecycle`` gives local jobs the same guarantee. The job's work runs
inside the ``with`` block and reports its outcome on the ``Outcome`` it is given; the
context manager is the only code that writes the record's status:

- the block returns: the outcome's status (Completed unless the work said otherwise);
- an error the request caused (``refused``): Failed with its message, and re-raised, so
  the caller answers it as a refused request;
- any other error: Failed with one line (a defect's traceback is kept in the job folder);
  the error is not re-raised: a failed job is a state, as on SageMaker, read with Describe;
- Ctrl-C, SIGTERM, SIGHUP (raised as ``Terminated``): Stopped, and re-raised.

A process killed outright cannot do any of this; its record names it as owner, and the
next reader ends the job Failed (see ``JobStore``).
"""

from __future__ import annotations

import signal
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from bigmart.clipping import describe, one_line
from bigmart.contract import EndpointStatus, JobStatus
from bigmart.errors import BigmartError
from bigmart.local.jobs import JobStore, JobStoreError, RequestRefused, owned_by_me

TERMINATION_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
#: Where a running job's log goes, one line at a time (the terminal, a file, CloudWatch's
#: tail): every job runner and log follower takes one.
Echo = Callable[[str], None]


class Terminated(BaseException):
    """The process received SIGTERM or SIGHUP (a BaseException, as KeyboardInterrupt)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}")


@contextmanager
def termination_raises(*, held: bool = False) -> Iterator[Callable[[], None]]:
    """Within the block, SIGTERM and SIGHUP raise ``Terminated`` (once), so ``finally``
    blocks and handlers run as they do for Ctrl-C, instead of the process just vanishing.

    ``held``: a signal is only noted until the block calls the ``release`` it is given,
    which raises it there, where the block is ready for it.
    """
    raised = released = False
    noted: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal raised
        if held and not released:
            noted.append(signum)
        elif not raised:  # a second signal during the clean-up must not cut it short
            raised = True
            raise Terminated(signum)

    def release() -> None:
        nonlocal raised, released
        released = True
        if noted and not raised:
            raised = True
            raise Terminated(noted[0])

    previous = {number: signal.signal(number, handler) for number in TERMINATION_SIGNALS}
    try:
        yield release
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


@dataclass
class Outcome:
    """What the job's work reports; ``job_lifecycle`` writes it to the record at the end."""

    status: str = JobStatus.COMPLETED
    metrics: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)
    failure_reason: str | None = None

    def fail(self, reason: str, status: str = JobStatus.FAILED) -> None:
        """The job ended on its own without success (``train`` failed, an object failed)."""
        self.status = status
        self.failure_reason = one_line(reason)


@contextmanager
def job_lifecycle(
    store: JobStore,
    name: str,
    kind: str,
    parameters: Mapping[str, Any],
    *,
    running: str = JobStatus.IN_PROGRESS,
    stopped: str = JobStatus.STOPPED,
    replace: bool = False,
    refused: tuple[type[Exception], ...] = (),
    expected: tuple[type[Exception], ...] = (BigmartError, OSError, ValueError),
) -> Iterator[Outcome]:
    """Create job ``name`` as ``running``, owned by this process, and end it on the way out.

    ``refused`` errors end it Failed and propagate (the request was wrong); ``expected``
    errors (a disk, a network, bad data) end it Failed with their one-line description;
    anything else is a defect: Failed, with its traceback kept in the job's folder. A name
    already taken raises ``RequestRefused`` before anything runs, unless ``replace`` (an
    endpoint's name is free again once it is deleted or failed: the caller checks that).
    An interruption ends it ``stopped`` (an endpoint has no Stopped: Failed); an endpoint
    that reaches InService lives on, so its record gets no end time until it is deleted.
    """
    # A stop may come the moment the record exists (``bigmart api`` answers Create then, and
    # StopTrainingJob can follow at once): held from before the record is written, it is
    # raised inside the ``try`` below, which ends the job Stopped.
    with ExitStack() as signals:
        release = signals.enter_context(termination_raises(held=True))
        store.create(name, kind, parameters, running, replace=replace, owner=owned_by_me())
        handlers = signals.pop_all()  # kept in place past this block, closed in the try
    outcome = Outcome()
    try:
        with handlers:
            release()
            yield outcome
    except JobStoreError:
        raise  # the record cannot be written: nothing more can be said in it
    except (RequestRefused, *refused) as error:
        _end(store, name, kind, JobStatus.FAILED, str(error))
        raise
    except expected as error:
        outcome.fail(describe(error))
    except Exception as error:  # a defect: the job still ends, and the details are kept
        outcome.fail(unexpected_failure(store, name, error))
    except BaseException as error:  # Ctrl-C, or a signal raised as Terminated: Stopped
        _end(store, name, kind, stopped, interrupted(error))
        raise
    store.update(
        name,
        kind=kind,
        status=outcome.status,
        metrics=outcome.metrics,
        artifacts=outcome.artifacts,
        failure_reason=outcome.failure_reason,
        ended=outcome.status != EndpointStatus.IN_SERVICE,
    )


def _end(store: JobStore, name: str, kind: str, status: str, reason: str) -> None:
    store.update(name, kind=kind, status=status, failure_reason=one_line(reason), ended=True)


def interrupted(error: BaseException) -> str:
    """The reason of a job stopped by Ctrl-C or a signal raised as ``Terminated``."""
    return f"interrupted ({'Ctrl-C' if isinstance(error, KeyboardInterrupt) else describe(error)})"


def unexpected_failure(store: JobStore, name: str, error: BaseException) -> str:
    """The failure reason for a defect that ended job ``name``: one line for the record,
    with the whole traceback kept in the job's folder (if it can be written)."""
    log = store.home / "jobs" / name / "traceback.txt"
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(traceback.format_exc())
        where = f" (traceback: {log})"
    except OSError:
        where = ""
    return f"unexpected {describe(error)}{where}"
