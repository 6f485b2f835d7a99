"""bigmart.aws.training: the CreateTrainingJob request, start and follow, against a local moto
server (botocore's Stubber where moto cannot play a part, e.g. a job that fails).

No AWS account and no network beyond 127.0.0.1: see support/aws_server.py."""

from __future__ import annotations

import re
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from bigmart import aws
from bigmart.model.metrics import METRIC_DEFINITIONS
from support.aws_server import (
    ROLE_ARN,
)
from support.sagemaker import (
    BUCKET,
    HYPER,
    IMAGE,
    NOW,
    Requests,
    described_training_job,
    put_log_events,
    training_request,
)

# --- training: the request ---------------------------------------------------------------


def test_training_request_carries_image_role_channels_and_string_hyperparameters() -> None:
    request = training_request()

    assert request["TrainingJobName"] == "bigmart-2024-06-01"
    assert request["AlgorithmSpecification"] == {
        "TrainingImage": IMAGE,
        "TrainingInputMode": "File",
        "MetricDefinitions": METRIC_DEFINITIONS,
    }
    assert request["RoleArn"] == ROLE_ARN
    assert request["HyperParameters"] == {"n_estimators": "300", "max_depth": "8"}
    assert request["InputDataConfig"] == [
        {
            "ChannelName": name,
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": f"{BUCKET}/{name}/",
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
            "ContentType": "text/csv",
        }
        for name in ("training", "validation")
    ]
    assert request["OutputDataConfig"] == {"S3OutputPath": f"{BUCKET}/models/"}
    assert request["ResourceConfig"] == {
        "InstanceType": "ml.m5.large",
        "InstanceCount": 1,
        "VolumeSizeInGB": 30,
    }
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400}
    assert request["EnableManagedSpotTraining"] is False
    assert "CheckpointConfig" not in request
    assert "Environment" not in request


def test_spot_training_gets_a_wait_limit_and_checkpoints() -> None:
    request = training_request(
        spot=True,
        max_run_seconds=3600,
        checkpoint_s3_uri=f"{BUCKET}/checkpoints/",
        environment={"MODEL_SERVER_WORKERS": "2"},
    )
    assert request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"] == {
        "MaxRuntimeInSeconds": 3600,
        "MaxWaitTimeInSeconds": 3600,
    }
    assert request["CheckpointConfig"] == {
        "S3Uri": f"{BUCKET}/checkpoints/",
        "LocalPath": "/opt/ml/checkpoints",
    }
    assert request["Environment"] == {"MODEL_SERVER_WORKERS": "2"}
    explicit = training_request(spot=True, max_run_seconds=3600, max_wait_seconds=7200)
    assert explicit["StoppingCondition"]["MaxWaitTimeInSeconds"] == 7200


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": "bigmart_job"}, "not a valid SageMaker name"),
        ({"name": "x" * 64}, "not a valid SageMaker name"),
        ({"channels": {"validation": f"{BUCKET}/v/"}}, "channel 'training' is required"),
        ({"channels": {"training": f"{BUCKET}/t/", "bad name": f"{BUCKET}/v/"}}, "bad name"),
        ({"channels": {"training": "/data/train.csv"}}, "channel 'training' '/data/train.csv'"),
        ({"output_s3_uri": "my-bucket/models"}, "output location 'my-bucket/models'"),
        ({"hyperparameters": {"n_estimators": 300}}, "write n_estimators='300'"),
        ({"hyperparameters": {f"h{i}": "1" for i in range(101)}}, "at most 100"),
        ({"role_arn": "SageMakerExecution"}, "not an IAM role ARN"),
        ({"instance_type": "m5.large"}, "did you mean ml.m5.large?"),
        ({"instance_count": 0}, "instance count 0"),
        ({"spot": True, "max_run_seconds": 600, "max_wait_seconds": 60}, "at least max_run"),
        ({"max_wait_seconds": 600}, "spot training only"),
        ({"environment": {"1BAD": "x"}}, "environment variable name '1BAD'"),
        ({"checkpoint_s3_uri": "file:///tmp"}, "checkpoint location"),
        ({"image_uri": "bigmart latest"}, "image URI 'bigmart latest' is invalid"),
    ],
)
def test_training_request_rejects_what_sagemaker_would(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(aws.RequestError, match=re.escape(message)):
        training_request(**overrides)


# --- training: start and follow ----------------------------------------------------------


def test_training_job_is_accepted_by_the_service_model_and_followed_to_completion(
    boto: boto3.Session,
) -> None:
    sm = boto.client("sagemaker")
    sent = Requests().attach(sm)
    request = training_request(name="bigmart-moto")
    put_log_events(
        boto,
        "/aws/sagemaker/TrainingJobs",
        "bigmart-moto/algo-1-1717200000",
        ["read 8523 training rows", "validation:rmse=1089.1035"],
    )

    arn = aws.start_training_job(sm, request)
    lines: list[str] = []
    final = aws.wait_for_training_job(
        sm, boto.client("logs"), "bigmart-moto", echo=lines.append, poll_seconds=0
    )

    assert arn.endswith(":training-job/bigmart-moto")
    assert sent.of("CreateTrainingJob") == [request]
    # What moto stored is what was sent (moto rewrites MetricDefinitions; checked above).
    assert final["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert final["RoleArn"] == ROLE_ARN
    assert final["HyperParameters"] == HYPER
    assert {
        c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in final["InputDataConfig"]
    } == {"training": f"{BUCKET}/training/", "validation": f"{BUCKET}/validation/"}
    assert lines[0].startswith("training job bigmart-moto: Completed")
    assert "read 8523 training rows" in lines
    assert "validation:rmse=1089.1035" in lines
    assert f"model: {BUCKET}/models/bigmart-moto/output/model.tar.gz" in lines


def test_waiting_echoes_status_changes_and_final_metrics(boto: boto3.Session) -> None:
    sm = boto.client("sagemaker")
    with Stubber(sm) as stub:
        for status, secondary, message in [
            ("InProgress", "Starting", "Launching requested ML instances"),
            ("InProgress", "Starting", "Launching requested ML instances"),
            ("InProgress", "Training", "Training image download completed"),
        ]:
            stub.add_response(
                "describe_training_job",
                described_training_job(
                    status,
                    secondary,
                    SecondaryStatusTransitions=[
                        {"Status": secondary, "StartTime": NOW, "StatusMessage": message}
                    ],
                ),
                {"TrainingJobName": "job"},
            )
        stub.add_response(
            "describe_training_job",
            described_training_job(
                "Completed",
                "Completed",
                FinalMetricDataList=[
                    {"MetricName": "validation:rmse", "Value": 1089.1035, "Timestamp": NOW},
                    {"MetricName": "cv:rmse_std", "Value": 20.2486, "Timestamp": NOW},
                ],
                BillableTimeInSeconds=312,
            ),
        )
        lines: list[str] = []
        final = aws.wait_for_training_job(sm, None, "job", echo=lines.append, poll_seconds=0)
        stub.assert_no_pending_responses()

    assert final["TrainingJobStatus"] == "Completed"
    assert lines == [
        "training job job: InProgress - Starting - Launching requested ML instances",
        "training job job: InProgress - Training - Training image download completed",
        "training job job: Completed - Completed",
        "validation:rmse=1089.1035",
        "cv:rmse_std=20.2486",
        f"model: {BUCKET}/models/job/output/model.tar.gz",
        "billable seconds: 312",
    ]


def test_a_failed_job_raises_with_its_reason_after_echoing_its_log(boto: boto3.Session) -> None:
    reason = "hyper-parameter n_estimators='abc' is invalid: expected an integer from 1 to 5000"
    put_log_events(
        boto,
        "/aws/sagemaker/TrainingJobs",
        "job/algo-1-1717200000",
        ["read 8523 training rows from 1 file(s)", f"Training failed: {reason}"],
    )
    sm = boto.client("sagemaker")
    with Stubber(sm) as stub:
        stub.add_response("describe_training_job", described_training_job("InProgress", "Training"))
        stub.add_response(
            "describe_training_job",
            described_training_job("Failed", "Failed", FailureReason=reason),
        )
        lines: list[str] = []
        with pytest.raises(aws.JobFailed) as failure:
            aws.wait_for_training_job(
                sm, boto.client("logs"), "job", echo=lines.append, poll_seconds=0
            )

    assert failure.value.failure_reason == reason
    assert failure.value.status == "Failed"
    assert str(failure.value) == f"training job job failed: {reason}"
    assert aws.explain(failure.value) == f"training job job failed: {reason}"
    # Each log line once, though the log was polled twice.
    assert lines == [
        "training job job: InProgress - Training",
        "read 8523 training rows from 1 file(s)",
        f"Training failed: {reason}",
        "training job job: Failed - Failed",
    ]


def test_a_job_stopped_at_its_time_limit_says_so(boto: boto3.Session) -> None:
    sm = boto.client("sagemaker")
    with Stubber(sm) as stub:
        stub.add_response(
            "describe_training_job", described_training_job("Stopped", "MaxRuntimeExceeded")
        )
        with pytest.raises(aws.JobFailed, match="max_run_seconds"):
            aws.wait_for_training_job(sm, None, "job", echo=lambda _: None, poll_seconds=0)


def test_waiting_can_give_up_while_the_job_goes_on(boto: boto3.Session) -> None:
    sm = boto.client("sagemaker")
    with Stubber(sm) as stub:
        stub.add_response("describe_training_job", described_training_job("InProgress", "Training"))
        with pytest.raises(aws.WaitTimeout, match="still InProgress"):
            aws.wait_for_training_job(
                sm, None, "job", echo=lambda _: None, poll_seconds=0, timeout_seconds=-1
            )
