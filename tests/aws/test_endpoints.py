"""bigmart.aws.endpoints: model, endpoint config, endpoint, invoke and delete, against a
local moto server (botocore's Stubber where moto cannot play a part, e.g. a failure)."""

from __future__ import annotations

import re

import boto3
import pytest
from botocore.exceptions import (
    ClientError,
)
from botocore.stub import Stubber

from bigmart import aws
from support.aws_server import (
    ACCOUNT,
    REGION,
    ROLE_ARN,
    MotoServer,
)
from support.sagemaker import BUCKET, IMAGE, NOW, Requests

# --- endpoints ---------------------------------------------------------------------------


def test_deploy_invoke_and_delete_an_endpoint(local_aws: MotoServer, boto: boto3.Session) -> None:
    sm = boto.client("sagemaker")
    sent = Requests().attach(sm)
    model_data = f"{BUCKET}/models/job/output/model.tar.gz"

    arn = aws.deploy(
        sm,
        "bigmart-demo",
        IMAGE,
        model_data,
        ROLE_ARN,
        "ml.m5.large",
        instance_count=2,
        capture_s3_uri=f"{BUCKET}/capture/",
    )
    endpoint = aws.wait_for_endpoint(sm, "bigmart-demo", echo=lambda _: None, poll_seconds=0)

    assert arn.endswith(":endpoint/bigmart-demo")
    assert endpoint["EndpointStatus"] == "InService"
    assert sent.of("CreateModel") == [
        {
            "ModelName": "bigmart-demo",
            "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": model_data},
            "ExecutionRoleArn": ROLE_ARN,
        }
    ]
    (config,) = sent.of("CreateEndpointConfig")
    assert config["ProductionVariants"] == [
        {
            "VariantName": "AllTraffic",
            "ModelName": "bigmart-demo",
            "InstanceType": "ml.m5.large",
            "InitialInstanceCount": 2,
            "InitialVariantWeight": 1.0,
        }
    ]
    capture = config["DataCaptureConfig"]
    assert capture["EnableCapture"] is True
    assert capture["DestinationS3Uri"] == f"{BUCKET}/capture/"
    assert capture["InitialSamplingPercentage"] == 100
    assert {o["CaptureMode"] for o in capture["CaptureOptions"]} == {"Input", "Output"}
    assert sent.of("CreateEndpoint") == [
        {"EndpointName": "bigmart-demo", "EndpointConfigName": "bigmart-demo"}
    ]

    local_aws.set_endpoint_results([{"Body": "1802.1174\n", "ContentType": "text/csv"}])
    runtime = boto.client("sagemaker-runtime")
    invoked = Requests().attach(runtime)
    body, content_type = aws.invoke_endpoint(
        runtime, "bigmart-demo", "FDW58,20.75,Low Fat", "text/csv", accept="text/csv"
    )
    assert (body, content_type) == (b"1802.1174\n", "text/csv")
    assert invoked.of("InvokeEndpoint") == [
        {
            "EndpointName": "bigmart-demo",
            "Body": b"FDW58,20.75,Low Fat",
            "ContentType": "text/csv",
            "Accept": "text/csv",
        }
    ]

    deleted = aws.delete_endpoint(sm, "bigmart-demo")
    assert deleted == [
        "endpoint bigmart-demo",
        "endpoint config bigmart-demo",
        "model bigmart-demo",
    ]
    with pytest.raises(ClientError) as missing:
        sm.describe_endpoint(EndpointName="bigmart-demo")
    assert aws.explain(missing.value).startswith("Not found:")


def test_endpoint_config_without_capture_has_no_capture_section(boto: boto3.Session) -> None:
    sm = boto.client("sagemaker")
    sent = Requests().attach(sm)
    aws.create_model(sm, "model", IMAGE, f"{BUCKET}/m/model.tar.gz", ROLE_ARN)
    aws.create_endpoint_config(sm, "cfg", "model", "ml.c5.xlarge")
    (config,) = sent.of("CreateEndpointConfig")
    assert "DataCaptureConfig" not in config


def test_delete_endpoint_removes_what_a_failed_deploy_left(boto: boto3.Session) -> None:
    sm = boto.client("sagemaker")
    aws.create_model(sm, "left", IMAGE, f"{BUCKET}/m/model.tar.gz", ROLE_ARN)
    aws.create_endpoint_config(sm, "left", "left", "ml.m5.large")

    assert aws.delete_endpoint(sm, "left") == ["endpoint config left", "model left"]
    with pytest.raises(ClientError):
        aws.delete_endpoint(sm, "left")  # nothing left at all: the not-found error


def test_deploy_undoes_the_model_when_the_endpoint_config_fails(boto: boto3.Session) -> None:
    sm = boto.client("sagemaker")
    with Stubber(sm) as stub:
        stub.add_response(
            "create_model", {"ModelArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/bigmart-demo"}
        )
        stub.add_client_error(
            "create_endpoint_config",
            service_error_code="ResourceLimitExceeded",
            service_message="The account-level service limit 'ml.m5.large for endpoint usage' is 0",
        )
        stub.add_response("delete_model", {}, {"ModelName": "bigmart-demo"})
        with pytest.raises(ClientError) as failure:
            aws.deploy(
                sm, "bigmart-demo", IMAGE, f"{BUCKET}/m/model.tar.gz", ROLE_ARN, "ml.m5.large"
            )
        stub.assert_no_pending_responses()
    assert "Service Quotas" in aws.explain(failure.value)


def test_deploy_checks_its_arguments_before_creating_anything(boto: boto3.Session) -> None:
    sm = boto.client("sagemaker")
    with Stubber(sm) as stub:  # no responses queued: any call would fail the test
        with pytest.raises(aws.RequestError, match=re.escape("did you mean ml.m5.large")):
            aws.deploy(sm, "demo", IMAGE, f"{BUCKET}/m/model.tar.gz", ROLE_ARN, "m5.large")
        with pytest.raises(aws.RequestError, match="not an S3 URI"):
            aws.deploy(sm, "demo", IMAGE, "/tmp/model.tar.gz", ROLE_ARN, "ml.m5.large")
        stub.assert_no_pending_responses()


def test_an_endpoint_that_fails_raises_with_its_reason(boto: boto3.Session) -> None:
    sm = boto.client("sagemaker")
    reason = "The primary container for production variant AllTraffic did not pass the ping"
    answer = {
        "EndpointName": "e",
        "EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/e",
        "EndpointConfigName": "e",
        "CreationTime": NOW,
        "LastModifiedTime": NOW,
    }
    with Stubber(sm) as stub:
        stub.add_response("describe_endpoint", {**answer, "EndpointStatus": "Creating"})
        stub.add_response(
            "describe_endpoint", {**answer, "EndpointStatus": "Failed", "FailureReason": reason}
        )
        lines: list[str] = []
        with pytest.raises(aws.EndpointFailed) as failure:
            aws.wait_for_endpoint(sm, "e", echo=lines.append, poll_seconds=0)
    assert isinstance(failure.value, aws.JobFailed)
    assert failure.value.failure_reason == reason
    assert lines == ["endpoint e: Creating", "endpoint e: Failed"]


def test_invoke_refuses_bodies_over_six_mebibytes_before_sending() -> None:
    with pytest.raises(aws.RequestError, match="batch transform"):
        aws.invoke_endpoint(None, "e", b"x" * (aws.MAX_INVOKE_BYTES + 1), "text/csv")
