"""``LocalEndpoints``: SageMaker's endpoint config and endpoint calls, answered in
SageMaker's shapes, with a real ``serve`` behind an endpoint."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bigmart.local.endpoint_servers import EndpointServer, ModelError
from bigmart.local.lifecycle import RequestRefused
from bigmart.local.requests import (
    data_capture,
    endpoint_config_request,
    model_request,
    production_variant,
)
from bigmart.local.sagemaker import LocalSageMaker
from support.endpoints import LINE


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


def test_an_endpoint_is_described_listed_invoked_and_deleted(backend, trained_model, tmp_path):
    _model(backend, "m", trained_model)
    capture = tmp_path / "capture"
    backend.create_endpoint_config(
        endpoint_config_request("c", production_variant("m"), data_capture(str(capture)))
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
            "CaptureStatus": "Started",  # serve captures (tests/cli/test_endpoint_capture.py)
            "CurrentSamplingPercentage": 100,
            "DestinationS3Uri": str(capture),
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
