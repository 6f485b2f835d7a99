"""bigmart.aws.errors: an AWS error explained in one line with the fix."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)

from bigmart import aws
from support.aws_server import (
    REGION,
    MotoServer,
)

# --- explain -----------------------------------------------------------------------------


def client_error(code: str, message: str, operation: str = "CreateTrainingJob") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (NoCredentialsError(), "No AWS credentials found: run `aws configure`"),
        (NoRegionError(), "No AWS region is set: set AWS_REGION"),
        (
            EndpointConnectionError(endpoint_url="https://api.sagemaker.eu-wset-1.amazonaws.com/"),
            "Could not connect to https://api.sagemaker.eu-wset-1.amazonaws.com/: check",
        ),
        (
            client_error("ExpiredTokenException", "The security token included is expired"),
            "Your AWS credentials have expired (CreateTrainingJob): refresh them",
        ),
        (
            client_error("AccessDeniedException", "User x is not authorized to perform: s"),
            "Access denied for CreateTrainingJob: User x is not authorized to perform: s Grant",
        ),
        (client_error("AccessDenied", "Access Denied", "PutObject"), "Access denied for PutObject"),
        (
            client_error("ResourceLimitExceeded", "The account-level service limit is 0"),
            "An AWS quota stops CreateTrainingJob: The account-level service limit is 0 Request",
        ),
        (
            client_error("ValidationException", "1 validation error detected: Value 'x'"),
            "SageMaker rejected CreateTrainingJob: 1 validation error detected: Value 'x' Correct",
        ),
        (
            client_error("ValidationException", 'Could not find endpoint "e".', "InvokeEndpoint"),
            'Not found: Could not find endpoint "e". Check the name, and that the region',
        ),
        (client_error("ResourceNotFound", "Model m not found"), "Not found: Model m not found"),
        (
            client_error("ValidationException", "Could not assume role arn:aws:iam::1:role/r."),
            "SageMaker cannot use the role: Could not assume role",
        ),
        (
            client_error("ThrottlingException", "Rate exceeded"),
            "AWS is throttling CreateTrainingJob (Rate exceeded): wait a minute and retry",
        ),
        (
            client_error("ResourceInUse", "Training job names must be unique"),
            "Already exists or in use: Training job names must be unique",
        ),
        (client_error("SomethingNew", "details here"), "SomethingNew: details here"),
    ],
)
def test_explain_gives_one_line_with_the_fix(error: BaseException, expected: str) -> None:
    line = aws.explain(error)
    assert line.startswith(expected)
    assert "\n" not in line


def test_explain_real_errors_from_boto(local_aws: MotoServer, monkeypatch: pytest.MonkeyPatch):
    sm = aws.session().client("sagemaker")
    with pytest.raises(ClientError) as missing:
        sm.describe_training_job(TrainingJobName="nope")
    assert aws.explain(missing.value).startswith("Not found: Could not find training job")

    for key in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(key)
    with pytest.raises(NoRegionError) as no_region:
        aws.session().client("sagemaker")
    assert aws.explain(no_region.value).startswith("No AWS region is set")
    assert aws.session(region="eu-central-1").region_name == "eu-central-1"

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key)
    with pytest.raises(NoCredentialsError) as no_credentials:
        aws.session(region=REGION).client("sagemaker").list_training_jobs()
    assert aws.explain(no_credentials.value).startswith("No AWS credentials found")
