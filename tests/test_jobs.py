"""The job store under concurrent writers."""

import multiprocessing
from pathlib import Path

import pytest

from bigmart.workflow.jobs import JobStore


def _writer(home: str, worker: int, count: int) -> None:
    store = JobStore(Path(home))
    for i in range(count):
        name = f"job-{worker}-{i}"
        store.create(name, "transform", {"worker": worker}, "InProgress")
        store.update(name, status="Completed", metrics={"records": i}, ended=True)


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
    with pytest.raises(ValueError, match="already exists"):
        store.create("a", "endpoint", {}, "Creating")
    store.update("a", status="Failed", failure_reason="Bad training data: x", ended=True)
    record = store.get("a")
    assert record is not None and record.status == "Failed"
    assert record.parameters == {"hp": {"n_estimators": "5"}}
    assert record.as_dict()["failure_reason"] == "Bad training data: x"
    assert store.get("missing") is None
