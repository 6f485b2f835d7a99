"""Data capture through ``bigmart api``: boto3's CreateEndpointConfig with a
DataCaptureConfig, DescribeEndpoint's CaptureStatus Started, and SageMaker's capture files
holding what the runtime's InvokeEndpoint was answered."""

from __future__ import annotations

import json

from support.capture import body, folder_files, records_of

from .conftest import FAST_WAIT, ROLE

ROW = b"FDW58,20.75,Low Fat,0.0075,Snack Foods,107.86,OUT049,1999,Medium,Tier 1,Supermarket Type1"


def test_an_endpoint_config_with_data_capture_captures_what_was_answered(
    api_server, sagemaker, trained, tmp_path
):
    destination = tmp_path / "capture"
    container = {
        "Image": "bigmart:latest",
        "ModelDataUrl": trained,
        "Environment": {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"},
    }
    sagemaker.create_model(ModelName="api-cap", PrimaryContainer=container, ExecutionRoleArn=ROLE)
    sagemaker.create_endpoint_config(
        EndpointConfigName="api-cap",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "api-cap",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": f"file://{destination}",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {
                "CsvContentTypes": ["text/csv"],
                "JsonContentTypes": ["application/json"],
            },
        },
    )
    sagemaker.create_endpoint(EndpointName="api-cap", EndpointConfigName="api-cap")
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName="api-cap", WaiterConfig=FAST_WAIT)
    runtime = api_server.client("sagemaker-runtime")
    sent_json = json.dumps({"instances": [ROW.decode().split(",")]}).encode()
    try:
        described = sagemaker.describe_endpoint(EndpointName="api-cap")["DataCaptureConfig"]
        assert described["CaptureStatus"] == "Started" and described["EnableCapture"] is True
        assert described["CurrentSamplingPercentage"] == 100
        assert described["DestinationS3Uri"] == str(destination)
        as_csv = runtime.invoke_endpoint(EndpointName="api-cap", Body=ROW, ContentType="text/csv")
        as_json = runtime.invoke_endpoint(
            EndpointName="api-cap",
            Body=sent_json,
            ContentType="application/json",
            Accept="application/json",
        )
        answers = [as_csv["Body"].read(), as_json["Body"].read()]
    finally:
        sagemaker.delete_endpoint(EndpointName="api-cap")
    records = records_of(folder_files(destination), "api-cap")
    captured = sorted(
        (
            body(r["captureData"]["endpointInput"]),
            r["captureData"]["endpointInput"]["encoding"],
            body(r["captureData"]["endpointOutput"]),
        )
        for r in records
    )
    assert captured == sorted([(ROW, "CSV", answers[0]), (sent_json, "JSON", answers[1])])
