"""UpdateEndpoint through boto3 against a real ``bigmart api``: while a client keeps invoking,
the endpoint moves to the new model with no failed call, the switch is one step (no answer
of the old model after the first of the new), the waiter waits for it; a new model that
cannot start leaves the old one serving, InService with a FailureReason; so does an update
whose worker is killed outright; ``bigmart endpoint delete`` is refused during an update."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bigmart.local.endpoint_servers import EndpointServer
from bigmart.local.processes import ProcessIdentity
from support.cli import BIGMART, predicted
from support.endpoints import Gate, owner_pid, standby, until

from .conftest import FAST_WAIT, ROLE

#: Calls of the new model the client makes after the waiter returns, before it stops.
CALLS_AFTER = 5


def _deployable(
    sagemaker: Any, name: str, model_data: str, environment: Mapping[str, str] | None = None
) -> None:
    """A model and an endpoint config, both called ``name``."""
    container = {
        "Image": "bigmart:latest",
        "ModelDataUrl": model_data,
        "Environment": {"SAGEMAKER_MODEL_SERVER_WORKERS": "1", **(environment or {})},
    }
    sagemaker.create_model(ModelName=name, PrimaryContainer=container, ExecutionRoleArn=ROLE)
    variant = {"VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large"}
    sagemaker.create_endpoint_config(
        EndpointConfigName=name, ProductionVariants=[{**variant, "InitialInstanceCount": 1}]
    )


@pytest.fixture(scope="module")
def rows(real_test_csv, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("update_rows") / "rows.csv"
    path.write_text("".join(real_test_csv.read_text().splitlines(keepends=True)[:6]))
    return path


class Client(threading.Thread):
    """Invokes the endpoint without pause until stopped; keeps every answer and error."""

    def __init__(self, runtime: Any, endpoint: str, body: bytes) -> None:
        super().__init__(daemon=True)
        self.runtime, self.endpoint, self.body = runtime, endpoint, body
        self.answers: list[list[float]] = []
        self.errors: list[Exception] = []
        self.stopping = threading.Event()
        self.answered = threading.Condition()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                answer = self.runtime.invoke_endpoint(
                    EndpointName=self.endpoint, Body=self.body, ContentType="text/csv"
                )
                predictions = [float(x) for x in answer["Body"].read().split()]
            except Exception as error:  # every failure counts
                self.errors.append(error)
                continue
            with self.answered:
                self.answers.append(predictions)
                self.answered.notify_all()

    def wait_for(self, predictions: list[float], count: int) -> None:
        """Until ``count`` answers equal to ``predictions`` came back (or an error did)."""
        with self.answered:
            self.answered.wait_for(
                lambda: (
                    self.errors or self.answers.count(predictions) >= count or not self.is_alive()
                )
            )


def test_an_update_switches_models_with_no_failed_invocation(
    api_server, sagemaker, trained, model_archive, rows, tmp_path
):
    old_predictions = predicted(trained, rows, tmp_path / "old.csv")
    new_predictions = predicted(str(model_archive), rows, tmp_path / "new.csv")
    assert old_predictions != new_predictions  # else the switch could not be seen
    _deployable(sagemaker, "upd-old", trained)
    _deployable(sagemaker, "upd-new", f"file://{model_archive}")
    sagemaker.create_endpoint(EndpointName="upd", EndpointConfigName="upd-old")
    waiter = sagemaker.get_waiter("endpoint_in_service")
    waiter.wait(EndpointName="upd", WaiterConfig=FAST_WAIT)
    body = "\n".join(rows.read_text().splitlines()[1:]).encode()
    client = Client(api_server.client("sagemaker-runtime"), "upd", body)
    try:
        client.start()
        client.wait_for(old_predictions, 1)
        answer = sagemaker.update_endpoint(EndpointName="upd", EndpointConfigName="upd-new")
        assert answer["EndpointArn"].endswith(":endpoint/upd")
        # answered once the endpoint is Updating: the waiter waits for the switch
        waiter.wait(EndpointName="upd", WaiterConfig=FAST_WAIT)
        described = sagemaker.describe_endpoint(EndpointName="upd")
        assert described["EndpointStatus"] == "InService"
        assert described["EndpointConfigName"] == "upd-new"
        assert "FailureReason" not in described
        client.wait_for(new_predictions, CALLS_AFTER)
    finally:
        client.stopping.set()
        client.join(timeout=120)
    assert client.errors == []
    assert set(map(tuple, client.answers)) == {tuple(old_predictions), tuple(new_predictions)}
    switch = client.answers.index(new_predictions)
    assert all(p == old_predictions for p in client.answers[:switch])
    assert all(p == new_predictions for p in client.answers[switch:])  # one switch, no return

    _deployable(sagemaker, "upd-broken", "file:///nonexistent/model.tar.gz")
    sagemaker.update_endpoint(EndpointName="upd", EndpointConfigName="upd-broken")
    waiter.wait(EndpointName="upd", WaiterConfig=FAST_WAIT)
    described = sagemaker.describe_endpoint(EndpointName="upd")
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == "upd-new"  # rolled back: the old one serves
    assert "/nonexistent/model.tar.gz" in described["FailureReason"]
    runtime = api_server.client("sagemaker-runtime")
    answer = runtime.invoke_endpoint(EndpointName="upd", Body=body, ContentType="text/csv")
    assert [float(x) for x in answer["Body"].read().split()] == new_predictions
    sagemaker.delete_endpoint(EndpointName="upd")
    sagemaker.get_waiter("endpoint_deleted").wait(EndpointName="upd", WaiterConfig=FAST_WAIT)


def test_an_update_of_a_missing_endpoint_or_to_a_missing_config_is_refused(sagemaker, trained):
    with pytest.raises(ClientError) as refused:
        sagemaker.update_endpoint(EndpointName="upd-absent", EndpointConfigName="upd-x")
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "upd-absent" in refused.value.response["Error"]["Message"]
    _deployable(sagemaker, "upd-only", trained)
    sagemaker.create_endpoint(EndpointName="upd-only", EndpointConfigName="upd-only")
    sagemaker.get_waiter("endpoint_in_service").wait(
        EndpointName="upd-only", WaiterConfig=FAST_WAIT
    )
    try:
        with pytest.raises(ClientError) as refused:
            sagemaker.update_endpoint(EndpointName="upd-only", EndpointConfigName="upd-absent")
        assert refused.value.response["Error"]["Code"] == "ValidationException"
        assert "upd-absent" in refused.value.response["Error"]["Message"]
        described = sagemaker.describe_endpoint(EndpointName="upd-only")
        assert described["EndpointStatus"] == "InService"
        assert described["EndpointConfigName"] == "upd-only"
    finally:
        sagemaker.delete_endpoint(EndpointName="upd-only")


def _held_update(api: Any, name: str, trained: str, model: Path, gate: Gate) -> EndpointServer:
    """Endpoint ``name`` InService on ``trained``, then updating to ``model``, whose server
    is held at ``gate``: the server the record names once its process runs."""
    sagemaker = api.client()
    _deployable(sagemaker, f"{name}-old", trained)
    _deployable(sagemaker, f"{name}-new", f"file://{model}", gate.environment)
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-old")
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST_WAIT)
    sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=f"{name}-new")
    return until(lambda: standby(api.home, name), "the new server's process")


def test_an_update_whose_worker_is_killed_outright_is_rolled_back(
    api_server, sagemaker, trained, model_archive, rows, tmp_path
):
    gate = Gate(tmp_path / "gate")
    try:
        pending = _held_update(api_server, "upd-kill", trained, model_archive, gate)
        worker = owner_pid(api_server.home, "upd-kill")  # the update's worker
        os.kill(worker, signal.SIGKILL)
        until(lambda: ProcessIdentity.of(worker) is None, "the killed worker to be gone", 30)
        described = sagemaker.describe_endpoint(EndpointName="upd-kill")
        assert described["EndpointStatus"] == "InService"
        assert described["EndpointConfigName"] == "upd-kill-old"
        assert "ended without reporting" in described["FailureReason"]
        assert ProcessIdentity.of(pending.pid) is None  # its server stopped, not left running
        body = "\n".join(rows.read_text().splitlines()[1:]).encode()
        runtime = api_server.client("sagemaker-runtime")
        answer = runtime.invoke_endpoint(EndpointName="upd-kill", Body=body, ContentType="text/csv")
        assert [float(x) for x in answer["Body"].read().split()] == predicted(
            trained, rows, tmp_path / "old.csv"
        )
    finally:
        gate.open()
        sagemaker.delete_endpoint(EndpointName="upd-kill")


def test_the_cli_cannot_delete_an_endpoint_the_api_is_updating(
    api_server, sagemaker, trained, model_archive, tmp_path
):
    gate = Gate(tmp_path / "gate")
    environment = {**os.environ, "BIGMART_HOME": str(api_server.home)}
    delete = [BIGMART, "endpoint", "delete", "upd-del"]
    try:
        _held_update(api_server, "upd-del", trained, model_archive, gate)
        old = EndpointServer.recorded(api_server.store.get("upd-del").artifacts)
        before = sagemaker.describe_endpoint(EndpointName="upd-del")
        refused = subprocess.run(delete, capture_output=True, text=True, env=environment)
        assert refused.returncode == 2
        assert "Cannot delete endpoint 'upd-del' while it is Updating" in refused.stderr
        assert sagemaker.describe_endpoint(EndpointName="upd-del")["EndpointStatus"] == "Updating"
    finally:
        gate.open()
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName="upd-del", WaiterConfig=FAST_WAIT)
    after = sagemaker.describe_endpoint(EndpointName="upd-del")
    assert after["EndpointConfigName"] == "upd-del-new" and "FailureReason" not in after
    assert after["LastModifiedTime"] > before["LastModifiedTime"]
    new = EndpointServer.recorded(api_server.store.get("upd-del").artifacts)
    deleted = subprocess.run(delete, capture_output=True, text=True, env=environment)
    assert deleted.returncode == 0, deleted.stderr
    assert ProcessIdentity.of(old.pid) is None and ProcessIdentity.of(new.pid) is None
    assert api_server.store.get("upd-del").status == "Deleted"
