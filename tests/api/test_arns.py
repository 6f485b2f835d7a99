"""ARNs name the region the client signed its request for and the account ``--account-id``
names, so code that reads them (the SageMaker SDK, botocore's ArnParser) finds its own."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.utils import ArnParser

from bigmart.api import arns

from .conftest import CREDENTIALS, ROLE, running_api


def _client(url: str, region: str, service: str = "sagemaker") -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        config=Config(retries={"max_attempts": 1}),
        **{**CREDENTIALS, "region_name": region},
    )


def test_describe_answers_name_the_signed_region_and_parse_with_the_sdk(api_server, trained):
    from sagemaker.utils import get_training_job_name_from_training_job_arn

    for region, partition in [("eu-west-1", "aws"), ("cn-north-1", "aws-cn")]:
        client = _client(api_server.url, region)
        described = client.describe_training_job(TrainingJobName="api-shared-fit")
        arn = described["TrainingJobArn"]
        assert get_training_job_name_from_training_job_arn(arn) == "api-shared-fit"
        parsed = ArnParser().parse_arn(arn)
        assert (parsed["partition"], parsed["region"], parsed["account"]) == (
            partition,
            region,
            arns.DEFAULT_ACCOUNT,
        )
        assert parsed["resource"] == "training-job/api-shared-fit"
        listed = client.list_training_jobs(NameContains="api-shared-fit")
        assert [s["TrainingJobArn"] for s in listed["TrainingJobSummaries"]] == [arn]


def test_an_unsigned_request_is_answered_for_the_default_region(api_server):
    request = urllib.request.Request(
        api_server.url + "/",
        data=json.dumps({"ModelName": "arn-unsigned", "PrimaryContainer": {}}).encode(),
        headers={
            "X-Amz-Target": "SageMaker.CreateModel",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as raised:  # no ModelDataUrl: refused
        urllib.request.urlopen(request, timeout=30)
    assert json.loads(raised.value.read())["__type"] == "ValidationException"
    container = {"Image": "bigmart:latest", "ModelDataUrl": "/nowhere/model.tar.gz"}
    request.data = json.dumps({"ModelName": "arn-unsigned", "PrimaryContainer": container}).encode()
    with urllib.request.urlopen(request, timeout=30) as answer:
        arn = json.loads(answer.read())["ModelArn"]
    assert arn == f"arn:aws:sagemaker:{arns.DEFAULT_REGION}:000000000000:model/arn-unsigned"


def test_the_account_id_option_names_the_account_in_every_arn_and_error(tmp_path):
    with running_api(tmp_path / "home", None, "--account-id", "123456789012") as server:
        client = _client(server.url, "ap-southeast-2")
        container = {"Image": "bigmart:latest", "ModelDataUrl": "/nowhere/model.tar.gz"}
        created = client.create_model(
            ModelName="acct", PrimaryContainer=container, ExecutionRoleArn=ROLE
        )
        expected = "arn:aws:sagemaker:ap-southeast-2:123456789012:model/acct"
        assert created["ModelArn"] == expected
        assert client.describe_model(ModelName="acct")["ModelArn"] == expected
        runtime = _client(server.url, "ap-southeast-2", "sagemaker-runtime")
        with pytest.raises(ClientError) as raised:
            runtime.invoke_endpoint(EndpointName="none", Body=b"1", ContentType="text/csv")
        assert "of account 123456789012 not found" in raised.value.response["Error"]["Message"]


def test_an_account_id_is_twelve_digits():
    import argparse

    assert arns.account_id("123456789012") == "123456789012"
    for wrong in ("12345678901", "12345678901a", ""):
        with pytest.raises(argparse.ArgumentTypeError, match="12 digits"):
            arns.account_id(wrong)


def test_the_region_is_read_from_the_sigv4_credential_scope():
    header = (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240102/us-gov-west-1/sagemaker/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=abc"
    )
    assert arns.signed_region(header) == "us-gov-west-1"
    assert arns.place({"authorization": header}).partition == "aws-us-gov"
    assert arns.signed_region("Bearer x") is None
    assert arns.place({}).region == arns.DEFAULT_REGION
