"""A local endpoint's DataCaptureConfig: refused when this machine cannot capture to it, and
turned into ``serve``'s environment and mounts, a container engine's included; an update
to a config with capture starts capturing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bigmart.local.data_capture import (
    CONTAINER_DESTINATION,
    CONTAINER_STAGING,
    capture_setup,
)
from bigmart.local.engines import serve_command
from bigmart.local.jobs import JobStore
from bigmart.local.lifecycle import RequestRefused
from bigmart.local.requests import (
    data_capture,
    endpoint_config_request,
    model_request,
    production_variant,
)
from bigmart.local.sagemaker import LocalSageMaker
from support.capture import body, folder_files, records_of

LINE = (
    b"FDW58,20.75,Low Fat,0.007564836,Snack Foods,107.8622,OUT049,1999,Medium,Tier 1,"
    b"Supermarket Type1\n"
)


@pytest.fixture
def backend(tmp_path: Path) -> LocalSageMaker:
    local = LocalSageMaker(JobStore(tmp_path / "state"), echo=lambda line: None)
    model = model_request("m", "img:1", str(tmp_path / "model"))
    model["PrimaryContainer"]["Environment"] = {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"}
    local.create_model(model)
    return local


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"DestinationS3Uri": "https://b.example/x"},
            "DestinationS3Uri 'https://b.example/x': locally",
        ),
        ({"DestinationS3Uri": ""}, "DestinationS3Uri is required"),
        ({"InitialSamplingPercentage": 101}, "InitialSamplingPercentage 101: expected 0 to 100"),
        ({"CaptureOptions": [{"CaptureMode": "Both"}]}, "CaptureOptions \\['Both'\\]"),
        ({"CaptureOptions": []}, "CaptureOptions"),
    ],
)
def test_a_capture_this_machine_cannot_do_is_refused(backend, change, message):
    capture = {**data_capture("/tmp/capture"), **change}
    with pytest.raises(RequestRefused, match=f"endpoint config 'c': DataCaptureConfig: {message}"):
        backend.create_endpoint_config(
            endpoint_config_request("c", production_variant("m"), capture)
        )


def test_serve_is_told_where_to_capture(tmp_path):
    folder = tmp_path / "capture"
    setup = capture_setup(
        "ep", "AllTraffic", data_capture(str(folder), 40), tmp_path / "s", "process"
    )
    request = json.loads(setup.environment["BIGMART_DATA_CAPTURE"])
    assert request["EndpointName"] == "ep" and request["VariantName"] == "AllTraffic"
    assert request["DestinationS3Uri"] == str(folder) and request["InitialSamplingPercentage"] == 40
    assert folder.is_dir() and setup.volumes == () and setup.inherited == ()
    assert "BIGMART_CAPTURE_STAGING" not in setup.environment
    disabled = {**data_capture(str(folder)), "EnableCapture": False}
    assert capture_setup("ep", "v", disabled, tmp_path, "process").environment == {}
    assert capture_setup("ep", "v", None, tmp_path, "process").environment == {}


def test_a_container_gets_the_folders_mounted_and_the_aws_variables_by_name(tmp_path, monkeypatch):
    folder = tmp_path / "capture"
    setup = capture_setup("ep", "AllTraffic", data_capture(str(folder)), tmp_path / "s", "podman")
    request = json.loads(setup.environment["BIGMART_DATA_CAPTURE"])
    assert request["DestinationS3Uri"] == CONTAINER_DESTINATION
    assert setup.volumes == ((folder, CONTAINER_DESTINATION),)

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-value")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    staging = tmp_path / "staging"
    on_s3 = capture_setup("ep", "AllTraffic", data_capture("s3://b/c"), staging, "podman")
    assert json.loads(on_s3.environment["BIGMART_DATA_CAPTURE"])["DestinationS3Uri"] == "s3://b/c"
    assert on_s3.environment["BIGMART_CAPTURE_STAGING"] == CONTAINER_STAGING
    assert on_s3.volumes == ((staging, CONTAINER_STAGING),) and staging.is_dir()
    assert {"AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"} <= set(on_s3.inherited)
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    command = serve_command(
        "podman",
        "img",
        tmp_path / "model",
        8080,
        on_s3.environment,
        volumes=on_s3.volumes,
        inherited=on_s3.inherited,
    )
    assert f"{staging.resolve()}:{CONTAINER_STAGING}" in command
    assert "AWS_SECRET_ACCESS_KEY" in command  # by name: the value stays off the command line
    assert not any("secret-value" in item for item in command)


def test_a_destination_folder_that_cannot_be_made_fails_the_endpoint(backend, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    backend.create_endpoint_config(
        endpoint_config_request("c", production_variant("m"), data_capture(str(blocker / "x")))
    )
    backend.create_endpoint({"EndpointName": "ep", "EndpointConfigName": "c"})
    described = backend.describe_endpoint("ep")
    assert described["EndpointStatus"] == "Failed"
    assert f"data capture destination {blocker / 'x'}" in described["FailureReason"]


def test_an_update_to_a_config_with_capture_starts_capturing(tmp_path, trained_model):
    local = LocalSageMaker(JobStore(tmp_path / "state"), echo=lambda line: None)
    model = model_request("m", "img:1", str(trained_model))
    model["PrimaryContainer"]["Environment"] = {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"}
    local.create_model(model)
    folder = tmp_path / "capture"
    local.create_endpoint_config(endpoint_config_request("plain", production_variant("m")))
    local.create_endpoint_config(
        endpoint_config_request("captured", production_variant("m"), data_capture(str(folder)))
    )
    local.create_endpoint({"EndpointName": "ep", "EndpointConfigName": "plain"})
    try:
        local.invoke_endpoint("ep", LINE)
        assert "DataCaptureConfig" not in local.describe_endpoint("ep")
        local.update_endpoint({"EndpointName": "ep", "EndpointConfigName": "captured"})
        described = local.describe_endpoint("ep")
        assert described["EndpointStatus"] == "InService"
        assert described["DataCaptureConfig"]["CaptureStatus"] == "Started"
        local.invoke_endpoint("ep", LINE)
    finally:
        local.delete_endpoint("ep")
    (record,) = records_of(folder_files(folder), "ep")
    assert body(record["captureData"]["endpointInput"]) == LINE
