"""UpdateEndpoint on the local backend: blue/green with real servers, an update that fails or
is interrupted leaves the old config serving, and one killed outright (SIGKILL) is rolled
back by the next reader; a deletion waits for no update, it is refused meanwhile."""

from __future__ import annotations

import os
import signal

import pytest

from bigmart.local import endpoint_updates
from bigmart.local.endpoint_servers import EndpointServer, start_server
from bigmart.local.jobs import OWNER_GONE
from bigmart.local.lifecycle import RequestRefused
from bigmart.local.processes import ProcessIdentity
from support.endpoints import LINE, Gate, deployable, standby, start_update, until


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
        described = backend.describe_endpoint("ep")
        assert described["EndpointStatus"] == "InService"
        assert described["EndpointConfigName"] == "first"
        assert "/nonexistent/model.tar.gz" in described["FailureReason"]
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
        described = backend.describe_endpoint("ep")
        assert described["EndpointStatus"] == "InService"
        assert described["EndpointConfigName"] == "first"
        assert "interrupted" in described["FailureReason"]
        assert backend.endpoint_server("ep") == old and old.answers()
        assert not started[0].answers()
    finally:
        backend.delete_endpoint("ep")


def test_an_update_killed_before_its_switch_is_rolled_back_by_the_next_reader(
    backend, trained_model, other_model, tmp_path
):
    gate = Gate(tmp_path / "gate")  # the new server starts, and waits there
    deployable(backend, "first", trained_model)
    deployable(backend, "held", other_model, gate.environment)
    backend.create_endpoint({"EndpointName": "ep", "EndpointConfigName": "first"})
    home = backend.store.home
    old = backend.endpoint_server("ep")
    update = start_update(home, "ep", "held")
    try:
        pending = until(lambda: standby(home, "ep"), "the new server's process")
        update.kill()  # SIGKILL: the update can neither finish nor undo itself
        update.wait(timeout=60)
        assert backend.store.get("ep").status == "Updating"  # as it was left
        assert ProcessIdentity.of(pending.pid) is not None
        described = backend.describe_endpoint("ep")  # the next reader rolls it back
        assert described["EndpointStatus"] == "InService"
        assert described["EndpointConfigName"] == "first"
        assert OWNER_GONE in described["FailureReason"]
        assert backend.endpoint_server("ep") == old and old.answers()
        assert ProcessIdentity.of(pending.pid) is None  # stopped: no server left unowned
        assert "standby" not in backend.store.get("ep").artifacts
        assert backend.invoke_endpoint("ep", LINE)["Body"]
    finally:
        gate.open()
        update.kill()
        backend.delete_endpoint("ep")


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
        described = backend.describe_endpoint("ep")
        assert described["EndpointStatus"] == "InService"
        assert described["EndpointConfigName"] == "second"  # traffic had gone there
        assert OWNER_GONE in described["FailureReason"]
        assert backend.endpoint_server("ep") == new and new.answers()
        assert ProcessIdentity.of(old.pid) is None
    finally:
        backend.delete_endpoint("ep")


def test_a_delete_during_an_update_is_refused_and_leaves_no_server_running(
    backend, trained_model, other_model, tmp_path
):
    gate = Gate(tmp_path / "gate")
    deployable(backend, "first", trained_model)
    deployable(backend, "held", other_model, gate.environment)
    backend.create_endpoint({"EndpointName": "ep", "EndpointConfigName": "first"})
    home = backend.store.home
    old = backend.endpoint_server("ep")
    update = start_update(home, "ep", "held")
    try:
        until(lambda: standby(home, "ep"), "the new server's process")
        with pytest.raises(RequestRefused, match="while it is Updating"):
            backend.delete_endpoint("ep")
        assert backend.describe_endpoint("ep")["EndpointStatus"] == "Updating"
    finally:
        gate.open()
    assert update.wait(timeout=120) == 0
    described = backend.describe_endpoint("ep")
    assert described["EndpointStatus"] == "InService" and described["EndpointConfigName"] == "held"
    new = backend.endpoint_server("ep")
    backend.delete_endpoint("ep")
    assert backend.store.get("ep").status == "Deleted"
    assert ProcessIdentity.of(old.pid) is None and ProcessIdentity.of(new.pid) is None
