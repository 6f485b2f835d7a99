"""local.lifecycle: every job ends, in one place, whatever happens inside it."""

from __future__ import annotations

import os
import signal

import pytest

from bigmart.local.jobs import JobStore
from bigmart.local.lifecycle import RequestRefused, Terminated, job_lifecycle


class Refused(Exception):
    """An error the caller declares as 'the request was wrong'."""


def _end(store: JobStore, name: str, work) -> None:  # type: ignore[no-untyped-def]
    with job_lifecycle(store, name, "training", {"x": 1}, refused=(Refused,)) as outcome:
        work(outcome)


def test_the_work_reports_its_outcome_and_the_record_holds_it(tmp_path):
    store = JobStore(tmp_path)

    def work(outcome):  # type: ignore[no-untyped-def]
        assert store.get("ok").status == "InProgress"  # running while the work runs
        outcome.metrics = {"validation:rmse": 1.5}
        outcome.artifacts = {"model": "m.tar.gz"}

    _end(store, "ok", work)
    record = store.get("ok")
    assert (record.status, record.metrics, record.artifacts) == (
        "Completed",
        {"validation:rmse": 1.5},
        {"model": "m.tar.gz"},
    )
    assert record.ended is not None and record.parameters == {"x": 1}


def test_a_job_that_fails_on_its_own_is_failed_with_one_line(tmp_path):
    store = JobStore(tmp_path)
    _end(store, "bad", lambda outcome: outcome.fail("train exited 1\nTraceback ..."))
    record = store.get("bad")
    assert record.status == "Failed" and "\n" not in record.failure_reason


def test_an_operational_error_ends_it_failed_and_is_not_raised(tmp_path):
    store = JobStore(tmp_path)

    def work(outcome):  # type: ignore[no-untyped-def]
        raise OSError(28, "No space left on device")

    _end(store, "disk", work)  # a failed job is a state, read with Describe
    record = store.get("disk")
    assert record.status == "Failed" and "No space left on device" in record.failure_reason


def test_a_defect_ends_it_failed_and_keeps_the_traceback(tmp_path):
    store = JobStore(tmp_path)

    def work(outcome):  # type: ignore[no-untyped-def]
        raise RuntimeError("a bug")

    _end(store, "bug", work)
    record = store.get("bug")
    assert record.status == "Failed"
    assert record.failure_reason.startswith("unexpected RuntimeError: a bug (traceback: ")
    assert "RuntimeError" in (tmp_path / "jobs" / "bug" / "traceback.txt").read_text()


def test_a_refused_request_ends_it_failed_and_propagates(tmp_path):
    store = JobStore(tmp_path)

    def work(outcome):  # type: ignore[no-untyped-def]
        raise Refused("channel 'training': no such folder")

    with pytest.raises(Refused):
        _end(store, "refused", work)
    record = store.get("refused")
    assert record.status == "Failed" and "no such folder" in record.failure_reason


@pytest.mark.parametrize(
    ("interrupt", "reason"),
    [
        (lambda: (_ for _ in ()).throw(KeyboardInterrupt()), "interrupted (Ctrl-C)"),
        (
            lambda: os.kill(os.getpid(), signal.SIGTERM),
            "interrupted (Terminated: interrupted by SIGTERM)",
        ),
    ],
    ids=["ctrl-c", "sigterm"],
)
def test_ctrl_c_and_sigterm_stop_the_job_and_propagate(tmp_path, interrupt, reason):
    store = JobStore(tmp_path)
    with pytest.raises((KeyboardInterrupt, Terminated)):
        _end(store, "stopped", lambda outcome: interrupt())
    record = store.get("stopped")
    assert (record.status, record.failure_reason) == ("Stopped", reason)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is put back


def test_a_name_in_use_is_refused_before_the_work_runs(tmp_path):
    store = JobStore(tmp_path)
    _end(store, "taken", lambda outcome: None)
    ran = []
    with pytest.raises(RequestRefused, match="'taken' already exists"):
        _end(store, "taken", ran.append)
    assert ran == [] and store.get("taken").status == "Completed"


def test_a_sigterm_sent_the_moment_the_record_exists_stops_the_job(tmp_path):
    """``bigmart api`` answers CreateTrainingJob once the record exists, so StopTrainingJob
    can signal the worker before the work starts: the job still ends Stopped, not killed
    with its record left running."""

    class EarlyStop(Exception):
        pass

    class SignalledOnCreate(JobStore):
        def create(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().create(*args, **kwargs)
            os.kill(os.getpid(), signal.SIGTERM)  # the api's StopTrainingJob, at once

    def too_early(signum, frame):  # type: ignore[no-untyped-def]
        raise EarlyStop  # what the job would see with no handler of its own yet

    previous = signal.signal(signal.SIGTERM, too_early)
    try:
        store = SignalledOnCreate(tmp_path)
        ran = []
        with pytest.raises(Terminated):
            _end(store, "early", ran.append)
        assert signal.getsignal(signal.SIGTERM) is too_early  # the handler is put back
    finally:
        signal.signal(signal.SIGTERM, previous)
    record = store.get("early")
    assert (record.status, record.failure_reason, ran) == (
        "Stopped",
        "interrupted (Terminated: interrupted by SIGTERM)",
        [],
    )
