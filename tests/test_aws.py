"""bigmart.aws against a local moto server (and botocore's Stubber where moto
cannot play a part, e.g. a job that fails), plus the SageMaker SDK example in the docs.

No AWS account and no network beyond 127.0.0.1: see tests/aws_server.py.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import importlib
import re
import subprocess
import time
import types
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)
from botocore.stub import Stubber

from aws_server import ACCOUNT, OTHER_CREDENTIAL_SOURCES, REGION, ROLE_ARN, MotoServer, moto_server
from bigmart import aws
from bigmart.aws import records as aws_records
from bigmart.local.transform.options import TransformOptions
from bigmart.model.metrics import METRIC_DEFINITIONS, format_metric

REPO = Path(__file__).resolve().parents[1]
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/bigmart:latest"
BUCKET = "s3://my-bucket/bigmart"
HYPER = {"n_estimators": "300", "max_depth": "8"}
NOW = datetime(2024, 6, 1, tzinfo=UTC)


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with moto_server() as server:
        yield server


@pytest.fixture
def local_aws(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """An empty local AWS, and an environment that reaches nothing else."""
    for key, value in moto.environment().items():
        monkeypatch.setenv(key, value)
    for key in OTHER_CREDENTIAL_SOURCES:
        monkeypatch.delenv(key, raising=False)
    moto.reset()
    return moto


@pytest.fixture
def boto(local_aws: MotoServer) -> boto3.Session:
    return aws.session()


class Requests:
    """Records the parameters of every call a client makes, as the caller passed them."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def attach(self, client: Any) -> Requests:
        client.meta.events.register("provide-client-params", self._record)
        return self

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.sent.append((model.name, copy.deepcopy(params)))

    def of(self, operation: str) -> list[dict[str, Any]]:
        return [params for name, params in self.sent if name == operation]


def training_request(**overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "name": "bigmart-2024-06-01",
        "image_uri": IMAGE,
        "role_arn": ROLE_ARN,
        "channels": {"training": f"{BUCKET}/training/", "validation": f"{BUCKET}/validation/"},
        "output_s3_uri": f"{BUCKET}/models/",
        "hyperparameters": HYPER,
        "instance_type": "ml.m5.large",
    }
    arguments.update(overrides)
    return aws.training_job_request(**arguments)


def described_training_job(status: str, secondary: str, **extra: Any) -> dict[str, Any]:
    """A DescribeTrainingJob answer valid for Stubber (the required members, then extra)."""
    return {
        "TrainingJobName": "job",
        "TrainingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/job",
        "ModelArtifacts": {"S3ModelArtifacts": f"{BUCKET}/models/job/output/model.tar.gz"},
        "TrainingJobStatus": status,
        "SecondaryStatus": secondary,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "CreationTime": NOW,
        **extra,
    }


def put_log_events(boto: boto3.Session, group: str, stream: str, messages: list[str]) -> None:
    logs = boto.client("logs")
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    start = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": start + i, "message": m} for i, m in enumerate(messages)],
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


SAMPLE_LOG = """\
read 8523 training rows from 1 file(s)
train:rmse=1049.7759
validation:rmse=1089.1035
validation:mae=768.0904
validation:r2=0.5947
cv:rmse_mean=1080.4963
cv:rmse_std=20.2486
wrote the model to /opt/ml/model
"""
SAMPLE_VALUES = {
    "train:rmse": 1049.7759,
    "validation:rmse": 1089.1035,
    "validation:mae": 768.0904,
    "validation:r2": 0.5947,
    "cv:rmse_mean": 1080.4963,
    "cv:rmse_std": 20.2486,
}


def test_metric_regexes_find_every_metric_train_prints() -> None:
    names = [definition["Name"] for definition in METRIC_DEFINITIONS]
    assert sorted(names) == sorted(SAMPLE_VALUES)
    for definition in METRIC_DEFINITIONS:
        # SageMaker takes the first capture group of each match in the log.
        found = re.findall(definition["Regex"], SAMPLE_LOG)
        assert [float(value) for value in found] == [SAMPLE_VALUES[definition["Name"]]]


@pytest.mark.parametrize("value", [1089.10351, 0.0, -0.25, 20.2486, 123456.789, 1e-7])
def test_metric_regexes_match_format_metric(value: float) -> None:
    for definition in METRIC_DEFINITIONS:
        line = format_metric(definition["Name"], value)
        match = re.search(definition["Regex"], f"some prefix {line}\n")
        assert match is not None, (definition, line)
        assert float(match.group(1)) == pytest.approx(value, abs=1e-4)


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


def test_a_failed_or_stopped_job_is_recorded_with_its_reason_and_times() -> None:
    started, ended = (
        datetime(2026, 6, 1, 12, 0, tzinfo=UTC),
        datetime(2026, 6, 1, 12, 5, tzinfo=UTC),
    )
    failed = described_training_job(
        "Failed", "Failed", FailureReason="bad row 7", CreationTime=started, TrainingEndTime=ended
    )
    recorded = aws_records.outcome("training", failed)
    assert (recorded.status, recorded.failure_reason, recorded.ended) == (
        "Failed",
        "bad row 7",
        True,
    )
    assert recorded.ended_at - recorded.created_at == 300
    timed_out = aws_records.outcome(
        "training", described_training_job("Stopped", "MaxRuntimeExceeded")
    )
    assert "max_run_seconds" in timed_out.failure_reason
    stopped = aws_records.outcome("transform", {"TransformJobStatus": "Stopped"})
    assert stopped.failure_reason == "stopped before completing (StopTransformJob)"
    running = aws_records.outcome("transform", {"TransformJobStatus": "InProgress"})
    assert (running.ended, running.failure_reason, running.ended_at) == (False, None, None)


def test_waiting_can_give_up_while_the_job_goes_on(boto: boto3.Session) -> None:
    sm = boto.client("sagemaker")
    with Stubber(sm) as stub:
        stub.add_response("describe_training_job", described_training_job("InProgress", "Training"))
        with pytest.raises(aws.WaitTimeout, match="still InProgress"):
            aws.wait_for_training_job(
                sm, None, "job", echo=lambda _: None, poll_seconds=0, timeout_seconds=-1
            )


def test_log_tail_echoes_each_event_once_and_tolerates_missing_streams(
    boto: boto3.Session,
) -> None:
    lines: list[str] = []
    tail = aws.LogTail(boto.client("logs"), "/aws/sagemaker/TrainingJobs", "job/", lines.append)
    assert tail.poll() == 0  # no log group yet: the instances have not started

    put_log_events(boto, "/aws/sagemaker/TrainingJobs", "job/algo-1-1", ["one", "two"])
    put_log_events(boto, "/aws/sagemaker/TrainingJobs", "other-job/algo-1-1", ["not ours"])
    assert tail.poll() == 2
    assert tail.poll() == 0
    put_log_events(boto, "/aws/sagemaker/TrainingJobs", "job/algo-1-1", ["three"])
    assert tail.poll() == 1
    assert lines == ["one", "two", "three"]

    put_log_events(boto, "/aws/sagemaker/TrainingJobs", "job/algo-2-1", ["host two"])
    assert tail.poll() == 1
    assert lines[-1] == "[algo-2-1] host two"  # several hosts: each line says whose


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


# --- batch transform ---------------------------------------------------------------------


def transform_request(options: TransformOptions) -> dict[str, Any]:
    return aws.transform_job_request(
        "bigmart-score",
        "bigmart-demo",
        f"{BUCKET}/score/",
        f"{BUCKET}/out/",
        options,
        "ml.m5.large",
    )


def test_transform_request_with_default_options_sets_only_what_differs_from_sagemaker() -> None:
    assert transform_request(TransformOptions()) == {
        "TransformJobName": "bigmart-score",
        "ModelName": "bigmart-demo",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"{BUCKET}/score/"}},
            "ContentType": "text/csv",
            "SplitType": "Line",
            "CompressionType": "None",
        },
        "TransformOutput": {"S3OutputPath": f"{BUCKET}/out/", "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@pytest.mark.parametrize(
    ("option", "field"),
    [
        ({"content_type": "application/jsonlines"}, "TransformInput.ContentType"),
        ({"accept": "application/json"}, "TransformOutput.Accept"),
        ({"split_type": "None"}, "TransformInput.SplitType"),
        ({"batch_strategy": "SingleRecord"}, "BatchStrategy"),
        ({"batch_strategy": "MultiRecord"}, "BatchStrategy"),
        ({"max_payload_mb": 20}, "MaxPayloadInMB"),
        ({"max_payload_mb": 0}, "MaxPayloadInMB"),  # 0 is a setting: unbounded
        ({"max_concurrent_transforms": 4}, "MaxConcurrentTransforms"),
        ({"assemble_with": "None"}, "TransformOutput.AssembleWith"),
        ({"join_source": "Input"}, "DataProcessing.JoinSource"),
        ({"input_filter": "$[1:]"}, "DataProcessing.InputFilter"),
        ({"output_filter": "$[0,-1]"}, "DataProcessing.OutputFilter"),
        ({"compression_type": "Gzip"}, "TransformInput.CompressionType"),
    ],
)
def test_each_transform_option_sets_exactly_its_field(option: dict[str, Any], field: str) -> None:
    base = flatten(transform_request(TransformOptions()))
    changed = flatten(transform_request(TransformOptions(**option)))
    difference = {k: v for k, v in changed.items() if base.get(k, object()) != v}
    assert difference == {field: next(iter(option.values()))}
    assert set(base) - set(changed) == set()


def test_transform_job_on_moto_and_its_end(boto: boto3.Session) -> None:
    sm = boto.client("sagemaker")
    options = TransformOptions(batch_strategy="MultiRecord", max_payload_mb=6, join_source="Input")
    request = transform_request(options)
    aws.start_transform_job(sm, request)
    lines: list[str] = []
    final = aws.wait_for_transform_job(sm, "bigmart-score", echo=lines.append, poll_seconds=0)
    assert final["TransformJobStatus"] == "Completed"
    assert final["BatchStrategy"] == "MultiRecord"
    assert final["TransformInput"]["SplitType"] == "Line"
    assert lines == ["transform job bigmart-score: Completed", f"output: {BUCKET}/out/"]


def test_a_failed_transform_raises_with_its_reason(boto: boto3.Session) -> None:
    sm = boto.client("sagemaker")
    answer = {
        "TransformJobName": "t",
        "TransformJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:transform-job/t",
        "ModelName": "m",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": BUCKET}}
        },
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "CreationTime": NOW,
    }
    reason = "ClientError: See job logs for more information"
    with Stubber(sm) as stub:
        stub.add_response("describe_transform_job", {**answer, "TransformJobStatus": "InProgress"})
        stub.add_response(
            "describe_transform_job",
            {**answer, "TransformJobStatus": "Failed", "FailureReason": reason},
        )
        with pytest.raises(aws.JobFailed) as failure:
            aws.wait_for_transform_job(sm, "t", echo=lambda _: None, poll_seconds=0)
    assert failure.value.failure_reason == reason
    assert failure.value.kind == "transform job"


# --- ECR ---------------------------------------------------------------------------------


class Recorder:
    """Stands in for subprocess.run: records each command and its keyword arguments."""

    def __init__(self, fail_at: str | None = None) -> None:
        self.calls: list[tuple[list[str], dict[str, Any]]] = []
        self.fail_at = fail_at

    def __call__(self, command: list[str], **options: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append((command, options))
        if command[1] == self.fail_at:
            raise subprocess.CalledProcessError(2, command)
        return subprocess.CompletedProcess(command, 0)


def test_push_image_builds_logs_in_with_stdin_and_pushes(boto: boto3.Session) -> None:
    run = Recorder()
    image = aws.push_image(boto, "bigmart", "v1", context_dir="/src", run=run)

    repository = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/bigmart"
    assert image == f"{repository}:v1"
    _, password, registry = aws.registry_login(boto.client("ecr"))
    assert [command for command, _ in run.calls] == [
        ["docker", "build", "--provenance=false", "--platform", "linux/amd64", "-t", image, "/src"],
        ["docker", "login", "--username", "AWS", "--password-stdin", registry],
        ["docker", "push", image],
    ]
    login_options = run.calls[1][1]
    assert login_options == {"check": True, "input": password, "text": True}
    assert all(password not in " ".join(command) for command, _ in run.calls)
    assert all(options["check"] is True for _, options in run.calls)

    # A second push reuses the repository.
    again = aws.push_image(boto, "bigmart", "v2", engine="podman", run=Recorder())
    assert again == f"{repository}:v2"
    repositories = boto.client("ecr").describe_repositories()["repositories"]
    assert [r["repositoryName"] for r in repositories] == ["bigmart"]


def test_podman_builds_and_pushes_in_the_docker_format_sagemaker_requires(
    boto: boto3.Session,
) -> None:
    run = Recorder()
    image = aws.push_image(boto, "bigmart", engine="podman", platform=None, run=run)
    build, _, push = (command for command, _ in run.calls)
    assert build == ["podman", "build", "--format", "docker", "-t", image, "."]
    assert push == ["podman", "push", "--format", "v2s2", image]


def test_ensure_repository_creates_once_then_reuses(boto: boto3.Session) -> None:
    ecr = boto.client("ecr")
    sent = Requests().attach(ecr)
    first = aws.ensure_repository(ecr, "ml/bigmart")
    second = aws.ensure_repository(ecr, "ml/bigmart")
    assert first == second == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/ml/bigmart"
    assert len(sent.of("CreateRepository")) == 1
    with pytest.raises(aws.RequestError, match="lower-case"):
        aws.ensure_repository(ecr, "BigMart")


def test_registry_login_decodes_the_token() -> None:
    ecr = boto3.client("ecr", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    token = base64.b64encode(b"AWS:secret-password").decode()
    with Stubber(ecr) as stub:
        stub.add_response(
            "get_authorization_token",
            {
                "authorizationData": [
                    {
                        "authorizationToken": token,
                        "proxyEndpoint": f"https://{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com",
                    }
                ]
            },
        )
        login = aws.registry_login(ecr)
    assert login == ("AWS", "secret-password", f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com")


@pytest.mark.parametrize(
    ("run", "message"),
    [
        (Recorder(fail_at="build"), "`docker build` failed with exit code 2"),
        (Recorder(fail_at="push"), "`docker push` failed with exit code 2"),
    ],
)
def test_a_failed_step_says_which(boto: boto3.Session, run: Recorder, message: str) -> None:
    with pytest.raises(aws.ImageError, match=re.escape(message)):
        aws.push_image(boto, "bigmart", run=run)


def test_a_missing_engine_says_so(boto: boto3.Session) -> None:
    def missing(command: list[str], **_: Any) -> None:
        raise FileNotFoundError(command[0])

    with pytest.raises(aws.ImageError, match="docker is not installed"):
        aws.push_image(boto, "bigmart", run=missing)
    with pytest.raises(aws.RequestError, match="engine 'nerdctl'"):
        aws.push_image(boto, "bigmart", engine="nerdctl", run=missing)


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


# --- the SageMaker Python SDK example in docs/sagemaker-sdk.md -----------------------------


def python_blocks(markdown: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", markdown.read_text(), flags=re.M | re.S)


def test_the_sdk_example_in_the_docs_sends_the_requests_we_expect(
    local_aws: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # No SDK defaults from this machine's config files: an empty one stands in for both.
    # (A non-empty config is re-validated on every lookup, which costs seconds.)
    (tmp_path / "config.yaml").write_text("{}\n")
    monkeypatch.setenv("SAGEMAKER_ADMIN_CONFIG_OVERRIDE", str(tmp_path / "config.yaml"))
    monkeypatch.setenv("SAGEMAKER_USER_CONFIG_OVERRIDE", str(tmp_path / "config.yaml"))
    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    sagemaker = pytest.importorskip("sagemaker", minversion="2.200")
    sdk_session_module = importlib.import_module("sagemaker.session")
    telemetry = importlib.import_module("sagemaker.telemetry.telemetry_logging")

    from bigmart.codecs import decode_csv
    from bigmart.model.hyperparameters import HyperParameters

    # The SDK reports usage to an AWS address: keep that on this machine.
    telemetry_calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        telemetry, "_send_telemetry_request", lambda *args, **_: telemetry_calls.append(args)
    )
    # The SDK sleeps 5-10 s between polls; moto answers at once, so skip the sleeping.
    fast_time = types.SimpleNamespace(**vars(time))
    fast_time.sleep = lambda _: None
    monkeypatch.setattr(sdk_session_module, "time", fast_time)

    boto = aws.session()
    sm_client, runtime_client = boto.client("sagemaker"), boto.client("sagemaker-runtime")
    sent = Requests()
    sent.attach(sm_client)
    sent.attach(runtime_client)
    sdk_session = sagemaker.Session(
        boto_session=boto, sagemaker_client=sm_client, sagemaker_runtime_client=runtime_client
    )
    monkeypatch.setattr(sagemaker, "Session", lambda *_, **__: sdk_session)
    local_aws.set_endpoint_results([{"Body": "1802.1174\n1419.3326\n", "ContentType": "text/csv"}])

    namespace: dict[str, Any] = {}
    for block in python_blocks(REPO / "docs" / "sagemaker-sdk.md"):
        exec(compile(block, "docs/sagemaker-sdk.md", "exec"), namespace)

    (training,) = sent.of("CreateTrainingJob")
    assert training["AlgorithmSpecification"]["TrainingImage"] == namespace["image_uri"]
    assert training["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert training["AlgorithmSpecification"]["MetricDefinitions"] == METRIC_DEFINITIONS
    assert training["RoleArn"] == ROLE_ARN
    assert training["HyperParameters"] == {"n_estimators": "300", "max_depth": "8", "cv_folds": "5"}
    HyperParameters.from_strings(training["HyperParameters"])  # names and values the image takes
    assert {
        c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"]
        for c in training["InputDataConfig"]
    } == {"training": f"{BUCKET}/data/train/", "validation": f"{BUCKET}/data/validation/"}
    for channel in training["InputDataConfig"]:
        source = channel["DataSource"]["S3DataSource"]
        assert (source["S3DataType"], source["S3DataDistributionType"]) == (
            "S3Prefix",
            "FullyReplicated",
        )
    assert training["ResourceConfig"]["InstanceType"] == "ml.m5.large"
    assert training["ResourceConfig"]["InstanceCount"] == 1
    assert training["OutputDataConfig"]["S3OutputPath"] == f"{BUCKET}/models/"

    (model,) = sent.of("CreateModel")
    assert model["ModelName"] == "bigmart-demo"
    assert model["PrimaryContainer"]["Image"] == namespace["image_uri"]
    assert model["PrimaryContainer"]["ModelDataUrl"].endswith("/output/model.tar.gz")
    (config,) = sent.of("CreateEndpointConfig")
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.m5.large"

    (invocation,) = sent.of("InvokeEndpoint")
    assert invocation["ContentType"] == "text/csv"
    body = invocation["Body"]
    columns = decode_csv(body.encode() if isinstance(body, str) else body)
    assert columns["Item_Identifier"] == ["FDW58", "FDW14"]  # the image's server reads it
    assert namespace["predictions"] == [["1802.1174"], ["1419.3326"]]

    (transform,) = sent.of("CreateTransformJob")
    ours = aws.transform_job_request(
        transform["TransformJobName"],
        "bigmart-demo",
        f"{BUCKET}/data/score/",
        f"{BUCKET}/predictions/",
        TransformOptions(
            accept="text/csv", batch_strategy="MultiRecord", max_payload_mb=6, join_source="Input"
        ),
        "ml.m5.large",
    )
    for key in ("ModelName", "BatchStrategy", "MaxPayloadInMB", "DataProcessing"):
        assert transform.get(key) == ours.get(key), key
    for part in ("TransformInput", "TransformOutput", "TransformResources"):
        for key, value in ours[part].items():
            assert transform[part].get(key, "None" if key == "CompressionType" else None) == value

    assert sent.of("DeleteEndpoint") == [{"EndpointName": "bigmart-demo"}]
    assert sent.of("DeleteModel") == [{"ModelName": "bigmart-demo"}]
    assert sent.of("DeleteEndpointConfig") == [{"EndpointConfigName": "bigmart-demo"}]
