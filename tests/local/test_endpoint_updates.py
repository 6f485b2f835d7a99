"""UpdateEndpoint on the local backend: blue/green with real servers, an update that fails or
is interrupted leaves the old config serving, and one killed outright (SIGKILL) is rolled
back by the next reader; DeleteEndpoint meanwhile is refused, as on SageMaker."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bigmart.local import endpoint_updates
from bigmart.local.endpoint_servers import EndpointServer, start_server
from bigmart.local.jobs import OWNER_GONE
from bigmart.local.lifecycle import RequestRefused
from bigmart.local.processes import ProcessIdentity
from bigmart.local.sagemaker import LocalSageMaker
from support.endpoints import LINE, Gate, deployable, standby, start_update, until


def _serving_again(backend: LocalSageMaker, config: str, reason: str) -> None:
    """Endpoint ``ep`` is InService on ``config`` again, ``reason`` in its FailureReason."""
    described = backend.describe_endpoint("ep")
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == config
    assert reason in described["FailureReason"]


def test_an_update_serves_the_new_config_on_a_new_server_and_stops_the_old(
    backend, trained_model, other_model
):
    deployable(backend, "first", trained_model)
    deployable(backend, "second", other_model)
    backend.create_endpoint({"EndpointName": "ep", "EndpointConfigName": "first"})
    try:
        old = backend.endpoint_server("ep")
        before = backend.invoke_endpoint("ep", LINE)["Body"]
        created = backend.describe_endpoint("ep")
        answer = backend.update_endpoint({"EndpointName": "ep", "EndpointConfigName": "second"})
        assert answer == {"EndpointArn": "arn:aws:sagemaker:local:000000000000:endpoint/ep"}
        described = backend.describe_endpoint("ep")
        assert described["EndpointStatus"] == "InService"
        assert described["EndpointConfigName"] == "second" and "FailureReason" not in described
        assert described["LastModifiedTime"] > created["LastModifiedTime"]
        assert described["CreationTime"] == created["CreationTime"]
        (listed,) = backend.list_endpoints()["Endpoints"]
        assert listed["LastModifiedTime"] == described["LastModifiedTime"]
        new = backend.endpoint_server("ep")
        assert new.port != old.port and new.pid != old.pid and new.answers()
        assert not old.answers()  # drained and stopped
        after = backend.invoke_endpoint("ep", LINE)["Body"]
        assert after != before
        assert after == new.invoke(LINE, "text/csv", "text/csv")[0]
        # the next update takes the first server's folder again: two folders, in turns
        backend.update_endpoint({"EndpointName": "ep", "EndpointConfigName": "first"})
        assert backend.invoke_endpoint("ep", LINE)["Body"] == before
        assert backend.endpoint_server("ep").model_dir == old.model_dir
        assert not new.answers()
    finally:
        backend.delete_endpoint("ep")


def test_an_update_whose_server_cannot_start_leaves_the_old_config_serving(
    backend, trained_model, other_model
):
    deployable(backend, "first", trained_model)
    deployable(backend, "broken", "/nonexistent/model.tar.gz")
    deployable(backend, "second", other_model)
    backend.create_endpoint({"EndpointName": "ep", "EndpointConfigName": "first"})
    try:
        old = backend.endpoint_server("ep")
        before = backend.invoke_endpoint("ep", LINE)["Body"]
        backend.update_endpoint({"EndpointName": "ep", "EndpointConfigName": "broken"})
        _serving_again(backend, "first", "/nonexistent/model.tar.gz")
        assert backend.endpoint_server("ep") == old and old.answers()
        assert backend.invoke_endpoint("ep", LINE)["Body"] == before
        # a later update that succeeds clears the reason
        backend.update_endpoint({"EndpointName": "ep", "EndpointConfigName": "second"})
        described = backend.describe_endpoint("ep")
        assert described["EndpointConfigName"] == "second" and "FailureReason" not in described
    finally:
        backend.delete_endpoint("ep")


def test_only_an_in_service_endpoint_updates_and_to_an_existing_config(backend, trained_model):
    with pytest.raises(RequestRefused, match="Could not find endpoint 'absent'"):
        backend.update_endpoint({"EndpointName": "absent", "EndpointConfigName": "c"})
    deployable(backend, "bad", "/nonexistent/model.tar.gz")
    backend.create_endpoint({"EndpointName": "failed", "EndpointConfigName": "bad"})
    with pytest.raises(RequestRefused, match="while it is Failed"):
        backend.update_endpoint({"EndpointName": "failed", "EndpointConfigName": "bad"})
    deployable(backend, "first", trained_model)
    backend.create_endpoint({"EndpointName": "ep", "EndpointConfigName": "first"})
    try:
        with pytest.raises(RequestRefused, match="Could not find endpoint configuration"):
            backend.update_endpoint({"EndpointName": "ep", "EndpointConfigName": "absent"})
        described = backend.describe_endpoint("ep")
        assert described["EndpointStatus"] == "InService" and "FailureReason" not in described
    finally:
        backend.delete_endpoint("ep")


def test_an_invocation_that_read_the_record_before_a_switch_reaches_the_new_server(
    backend, trained_model, other_model, monkeypatch
):
    """The runtime reads the record, then connects: an update may switch and stop the old
    server in between. The call then goes to the server the record names now."""
    deployable(backend, "first", trained_model)
    deployable(backend, "second", other_model)
    backend.create_endpoint({"EndpointName": "ep", "EndpointConfigName": "first"})
    try:
        stale = backend.store.get("ep")
        backend.update_endpoint({"EndpointName": "ep", "EndpointConfigName": "second"})
        expected = backend.invoke_endpoint("ep", LINE)["Body"]
        reads = [stale]
        fresh = backend._endpoint_record
        monkeypatch.setattr(
            backend, "_endpoint_record", lambda name: reads.pop() if reads else fresh(name)
        )
        assert backend.invoke_endpoint("ep", LINE)["Body"] == expected
        assert reads == []  # the stale record was the one read first
    finally:
        backend.delete_endpoint("ep")


def test_an_update_interrupted_at_the_switch_keeps_the_old_server_and_stops_the_new(
    backend, trained_model, other_model, monkeypatch
):
    deployable(backend, "first", trained_model)
    deployable(backend, "second", other_model)
    backend.create_endpoint({"EndpointName": "ep", "EndpointConfigName": "first"})
    try:
        old = backend.endpoint_server("ep")
        started: list[EndpointServer] = []
        update = backend.store.update

        def serving(*args, **kwargs):
            started.append(start_server(*args, **kwargs))
            return started[-1]

        def interrupted_at_the_switch(name, **changes):
            update(name, **changes)
            if (changes.get("parameters") or {}).get("EndpointConfigName") == "second":
                raise KeyboardInterrupt  # after the write: traffic had switched

        monkeypatch.setattr(endpoint_updates, "start_server", serving)
        monkeypatch.setattr(backend.store, "update", interrupted_at_the_switch)
        with pytest.raises(KeyboardInterrupt):
            backend.update_endpoint({"EndpointName": "ep", "EndpointConfigName": "second"})
        _serving_again(backend, "first", "interrupted")
        assert backend.endpoint_server("ep") == old and old.answers()
        assert not started[0].answers()
    finally:
        backend.delete_endpoint("ep")


@dataclass
class HeldUpdate:
    gate: Gate
    old: EndpointServer  # the server before the update
    process: subprocess.Popen[bytes]  # the update's
    pending: EndpointServer  # the new server, started and held at the gate


@pytest.fixture
def held(backend, trained_model, other_model, tmp_path) -> Iterator[HeldUpdate]:
    """Endpoint ``ep`` updating, in a process of its own, from config ``first`` to ``held``,
    whose server is started and held at a gate."""
    gate = Gate(tmp_path / "gate")
    deployable(backend, "first", trained_model)
    deployable(backend, "held", other_model, gate.environment)
    backend.create_endpoint({"EndpointName": "ep", "EndpointConfigName": "first"})
    old = backend.endpoint_server("ep")
    process = start_update(backend.store.home, "ep", "held")
    try:
        pending = until(lambda: standby(backend.store.home, "ep"), "the new server's process")
        yield HeldUpdate(gate, old, process, pending)
    finally:
        gate.open()
        process.wait(timeout=120)
        backend.delete_endpoint("ep")


def test_an_update_killed_before_its_switch_is_rolled_back_by_the_next_reader(backend, held):
    held.process.kill()  # SIGKILL: the update can neither finish nor undo itself
    held.process.wait(timeout=60)
    assert backend.store.get("ep").status == "Updating"  # as it was left
    assert ProcessIdentity.of(held.pending.pid) is not None
    _serving_again(backend, "first", OWNER_GONE)  # the next reader rolls it back
    assert backend.endpoint_server("ep") == held.old and held.old.answers()
    assert ProcessIdentity.of(held.pending.pid) is None  # stopped: no server left unowned
    assert "standby" not in backend.store.get("ep").artifacts
    assert backend.invoke_endpoint("ep", LINE)["Body"]


def test_a_delete_during_an_update_is_refused_and_leaves_no_server_running(backend, held):
    with pytest.raises(RequestRefused, match="Cannot delete endpoint 'ep' while it is Updating"):
        backend.delete_endpoint("ep")
    assert backend.describe_endpoint("ep")["EndpointStatus"] == "Updating"
    held.gate.open()
    assert held.process.wait(timeout=120) == 0
    described = backend.describe_endpoint("ep")
    assert described["EndpointStatus"] == "InService" and described["EndpointConfigName"] == "held"
    new = backend.endpoint_server("ep")
    backend.delete_endpoint("ep")
    assert backend.store.get("ep").status == "Deleted"
    assert ProcessIdentity.of(held.old.pid) is None and ProcessIdentity.of(new.pid) is None


def test_an_update_killed_after_its_switch_keeps_the_new_config(
    backend, trained_model, other_model
):
    deployable(backend, "first", trained_model)
    deployable(backend, "second", other_model)
    backend.create_endpoint({"EndpointName": "ep", "EndpointConfigName": "first"})
    home = backend.store.home
    old = backend.endpoint_server("ep")
    os.kill(old.pid, signal.SIGSTOP)  # its drain cannot end: the update waits in it
    update = start_update(home, "ep", "second")
    try:
        until(
            lambda: backend.store.get("ep").parameters["EndpointConfigName"] == "second",
            "the switch",
        )
        new = EndpointServer.recorded(backend.store.get("ep").artifacts)
        update.kill()
        update.wait(timeout=60)
    finally:
        os.kill(old.pid, signal.SIGCONT)
    try:
        _serving_again(backend, "second", OWNER_GONE)  # traffic had gone there
        assert backend.endpoint_server("ep") == new and new.answers()
        assert ProcessIdentity.of(old.pid) is None
    finally:
        backend.delete_endpoint("ep")


def test_an_update_with_an_engine_removes_the_old_servers_container(
    tmp_path, trained_model, other_model, monkeypatch
):
    from bigmart.local.jobs import JobStore
    from support.engines import podman_calls, serving_podman

    folder, calls = serving_podman(tmp_path)
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")
    monkeypatch.delenv("BIGMART_ENGINE_FLAGS", raising=False)
    backend = LocalSageMaker(JobStore(tmp_path / "state"), engine="podman", echo=print)
    deployable(backend, "first", trained_model)
    deployable(backend, "second", other_model)
    backend.create_endpoint({"EndpointName": "ep", "EndpointConfigName": "first"})
    try:
        old = backend.endpoint_server("ep")
        backend.update_endpoint({"EndpointName": "ep", "EndpointConfigName": "second"})
        new = backend.endpoint_server("ep")
        assert old.container and new.container and new.container != old.container
        assert [call[:1] + call[-1:] for call in podman_calls(calls)[-2:]] == [
            ["stop", old.container],
            ["rm", old.container],
        ]
    finally:
        backend.delete_endpoint("ep")
    assert [call[:1] + call[-1:] for call in podman_calls(calls)[-2:]] == [
        ["stop", new.container],
        ["rm", new.container],
    ]
