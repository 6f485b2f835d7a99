"""``LocalEndpoints``: SageMaker's endpoint config and endpoint calls, answered in
SageMaker's shapes, with a real ``serve`` behind an endpoint."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bigmart.local.endpoint_servers import EndpointServer, ModelError
from bigmart.local.jobs import JobStore
from bigmart.local.lifecycle import RequestRefused
from bigmart.local.requests import (
    data_capture,
    endpoint_config_request,
    model_request,
    production_variant,
)
from bigmart.local.sagemaker import LocalSageMaker
from bigmart.local.training import prepare_job
from support.training import run_train

LINE = (
    b"FDW58,20.75,Low Fat,0.007564836,Snack Foods,107.8622,OUT049,1999,Medium,Tier 1,"
    b"Supermarket Type1\n"
)


@pytest.fixture(scope="module")
def other_model(synthetic_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second model (synthetic data, a small forest): it predicts otherwise."""
    root = tmp_path_factory.mktemp("other_opt_ml")
    prepare_job(root, {"training": synthetic_csv}, {"n_estimators": "5", "max_depth": "3"})
    result = run_train(root)
    assert result.returncode == 0, result.stdout + result.stderr
    return root / "model"


@pytest.fixture
def backend(tmp_path: Path) -> LocalSageMaker:
    return LocalSageMaker(JobStore(tmp_path / "state"), echo=lambda line: None)


def _model(backend: LocalSageMaker, name: str, model: Path | str) -> None:
    request = model_request(name, "img:1", str(model))
    request["PrimaryContainer"]["Environment"] = {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"}
    backend.create_model(request)


def test_an_endpoint_config_is_described_in_sagemakers_shape(backend, trained_model):
    _model(backend, "m", trained_model)
    request = endpoint_config_request(
        "c", production_variant("m", count=2), data_capture("s3://b/cap")
    )
    answer = backend.create_endpoint_config(request)
    assert answer == {"EndpointConfigArn": "arn:aws:sagemaker:local:000000000000:endpoint-config/c"}
    described = backend.describe_endpoint_config("c")
    assert described["EndpointConfigName"] == "c"
    assert described["EndpointConfigArn"] == answer["EndpointConfigArn"]
    assert isinstance(described["CreationTime"], dt.datetime)
    (variant,) = described["ProductionVariants"]
    assert variant["ModelName"] == "m" and variant["InstanceType"] == "local"
    assert variant["InitialInstanceCount"] == 2
    assert described["DataCaptureConfig"]["DestinationS3Uri"] == "s3://b/cap"
    with pytest.raises(RequestRefused, match="already exists"):
        backend.create_endpoint_config(request)
    assert backend.delete_endpoint_config("c") == {}
    with pytest.raises(RequestRefused, match="Could not find endpoint configuration 'c'"):
        backend.describe_endpoint_config("c")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ModelName": "absent"}, "Could not find model 'absent'"),
        ({"InstanceType": "ml.m5.large"}, "does not run on this machine"),
        ({"InitialInstanceCount": 0}, "at least 1"),
    ],
)
def test_a_config_that_cannot_run_here_is_refused(backend, change, message):
    _model(backend, "m", "/somewhere/model.tar.gz")
    request = endpoint_config_request("c", production_variant("m"))
    request["ProductionVariants"][0].update(change)
    with pytest.raises(RequestRefused, match=message):
        backend.create_endpoint_config(request)
    two = endpoint_config_request("c", production_variant("m"))
    two["ProductionVariants"] *= 2
    with pytest.raises(RequestRefused, match="exactly one production variant"):
        backend.create_endpoint_config(two)
    assert backend.store.get_resource("endpoint-config", "c") is None


def test_an_endpoint_is_described_listed_invoked_and_deleted(backend, trained_model):
    _model(backend, "m", trained_model)
    backend.create_endpoint_config(
        endpoint_config_request("c", production_variant("m"), data_capture("s3://b/x"))
    )
    answer = backend.create_endpoint({"EndpointName": "ep", "EndpointConfigName": "c"})
    assert answer == {"EndpointArn": "arn:aws:sagemaker:local:000000000000:endpoint/ep"}
    try:
        described = backend.describe_endpoint("ep")
        assert described["EndpointName"] == "ep" and described["EndpointConfigName"] == "c"
        assert described["EndpointArn"] == answer["EndpointArn"]
        assert described["EndpointStatus"] == "InService" and "FailureReason" not in described
        assert isinstance(described["CreationTime"], dt.datetime)
        (variant,) = described["ProductionVariants"]
        assert variant["VariantName"] == "AllTraffic"
        assert variant["DeployedImages"][0]["SpecifiedImage"] == "img:1"
        assert variant["CurrentInstanceCount"] == 1
        assert described["DataCaptureConfig"] == {
            "EnableCapture": True,
            "CaptureStatus": "Stopped",  # nothing is captured locally
            "CurrentSamplingPercentage": 100,
            "DestinationS3Uri": "s3://b/x",
        }
        # InService is not an end: the record gets its end time when the endpoint is deleted
        assert backend.store.get("ep").ended is None
        (summary,) = backend.list_endpoints()["Endpoints"]
        assert summary["EndpointName"] == "ep" and summary["EndpointStatus"] == "InService"
        assert backend.list_endpoints(StatusEquals="Failed")["Endpoints"] == []

        server = backend.endpoint_server("ep")
        assert server is not None and server.answers()
        assert server.url == f"http://127.0.0.1:{server.port}/invocations"
        invoked = backend.invoke_endpoint("ep", LINE * 2, "text/csv", "text/csv")
        assert len(invoked["Body"].splitlines()) == 2
        assert invoked["InvokedProductionVariant"] == "AllTraffic"
        with pytest.raises(ModelError) as refused:
            backend.invoke_endpoint("ep", b"not,a,row\n")
        assert refused.value.status == 400
        with pytest.raises(RequestRefused, match="already existing endpoint"):
            backend.create_endpoint({"EndpointName": "ep", "EndpointConfigName": "c"})
    finally:
        assert backend.delete_endpoint("ep") == {}
    assert not server.answers()
    deleted = backend.store.get("ep")
    assert deleted.status == "Deleted" and deleted.ended is not None
    with pytest.raises(RequestRefused, match="is Deleted"):
        backend.invoke_endpoint("ep", LINE)


def test_an_endpoint_that_cannot_start_is_failed_with_its_reason(backend):
    _model(backend, "m", "/nonexistent/model.tar.gz")
    backend.create_endpoint_config(endpoint_config_request("c", production_variant("m")))
    backend.create_endpoint({"EndpointName": "ep-bad", "EndpointConfigName": "c"})
    described = backend.describe_endpoint("ep-bad")
    assert described["EndpointStatus"] == "Failed"
    assert "/nonexistent/model.tar.gz" in described["FailureReason"]
    assert "ProductionVariants" not in described
    assert backend.endpoint_server("ep-bad") is None
    # a failed endpoint's name is free again, as on SageMaker
    backend.create_endpoint({"EndpointName": "ep-bad", "EndpointConfigName": "c"})
    assert backend.describe_endpoint("ep-bad")["EndpointStatus"] == "Failed"


def test_endpoint_calls_refuse_names_that_are_not_endpoints(backend):
    backend.store.create("job", "training", {}, "Completed")
    for call in (backend.describe_endpoint, backend.delete_endpoint, backend.endpoint_server):
        with pytest.raises(RequestRefused, match="Could not find endpoint 'job'"):
            call("job")
    _model(backend, "m", "/somewhere/model.tar.gz")
    backend.create_endpoint_config(endpoint_config_request("c", production_variant("m")))
    # names are unique per kind, as on SageMaker: an endpoint may take a training job's name
    backend.create_endpoint({"EndpointName": "job", "EndpointConfigName": "c"})
    assert backend.describe_endpoint("job")["EndpointStatus"] == "Failed"  # no such model
    assert backend.store.get("job", "training").status == "Completed"


def test_a_record_from_before_start_times_still_names_its_server():
    old = EndpointServer.recorded({"port": 8080, "pid": 12, "model_dir": "/x/model"})
    assert old == EndpointServer(port=8080, pid=12, model_dir="/x/model")
    assert old.host == "127.0.0.1" and old.start_time is None
    assert EndpointServer.recorded({}) is None


def _endpoint_on(backend: LocalSageMaker, config: str, model: Path | str) -> None:
    _model(backend, config, model)
    backend.create_endpoint_config(endpoint_config_request(config, production_variant(config)))


def test_an_update_serves_the_new_config_on_a_new_server_and_stops_the_old(
    backend, trained_model, other_model
):
    _endpoint_on(backend, "first", trained_model)
    _endpoint_on(backend, "second", other_model)
    backend.create_endpoint({"EndpointName": "ep", "EndpointConfigName": "first"})
    try:
        old = backend.endpoint_server("ep")
        before = backend.invoke_endpoint("ep", LINE)["Body"]
        answer = backend.update_endpoint({"EndpointName": "ep", "EndpointConfigName": "second"})
        assert answer == {"EndpointArn": "arn:aws:sagemaker:local:000000000000:endpoint/ep"}
        described = backend.describe_endpoint("ep")
        assert described["EndpointStatus"] == "InService"
        assert described["EndpointConfigName"] == "second" and "FailureReason" not in described
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
    _endpoint_on(backend, "first", trained_model)
    _endpoint_on(backend, "broken", "/nonexistent/model.tar.gz")
    _endpoint_on(backend, "second", other_model)
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
    _endpoint_on(backend, "bad", "/nonexistent/model.tar.gz")
    backend.create_endpoint({"EndpointName": "failed", "EndpointConfigName": "bad"})
    with pytest.raises(RequestRefused, match="while it is Failed"):
        backend.update_endpoint({"EndpointName": "failed", "EndpointConfigName": "bad"})
    _endpoint_on(backend, "first", trained_model)
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
    _endpoint_on(backend, "first", trained_model)
    _endpoint_on(backend, "second", other_model)
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
    _endpoint_on(backend, "first", trained_model)
    _endpoint_on(backend, "second", other_model)
    backend.create_endpoint({"EndpointName": "ep", "EndpointConfigName": "first"})
    try:
        old = backend.endpoint_server("ep")
        started: list[EndpointServer] = []
        serve, update = backend._serve, backend.store.update

        def serving(*args, **kwargs):
            started.append(serve(*args, **kwargs))
            return started[-1]

        def interrupted_at_the_switch(name, **changes):
            update(name, **changes)
            if started and changes.get("artifacts") == started[-1].artifacts():
                raise KeyboardInterrupt  # after the write: traffic had switched

        monkeypatch.setattr(backend, "_serve", serving)
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
