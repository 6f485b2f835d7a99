"""CloudWatch Logs of local jobs through ``bigmart api``: boto3's logs client, and the
SageMaker SDK's own log follower, read a training job's log as they would on AWS; the
job's FinalMetricDataList comes from its MetricDefinitions run over that log."""

from __future__ import annotations

import os

import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.validate import ParamValidator

from bigmart.model.metrics import METRIC_DEFINITIONS

from .conftest import FAST_WAIT, training_request

GROUP = "/aws/sagemaker/TrainingJobs"
LOGS = botocore.session.get_session().get_service_model("logs")


def _valid(operation: str, answer: dict) -> None:
    answer = {k: v for k, v in answer.items() if k != "ResponseMetadata"}
    report = ParamValidator().validate(answer, LOGS.operation_model(operation).output_shape)
    assert not report.has_errors(), report.generate_report()


@pytest.fixture(scope="module")
def logged_job(api_server, sagemaker, synthetic_csv, tmp_path_factory):
    """A training job run through the api with the metric regexes ``train``'s lines match."""
    output = tmp_path_factory.mktemp("logged")
    request = training_request("api-logged", str(synthetic_csv), str(output))
    request["AlgorithmSpecification"]["MetricDefinitions"] = [dict(d) for d in METRIC_DEFINITIONS]
    sagemaker.create_training_job(**request)
    sagemaker.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName="api-logged", WaiterConfig=FAST_WAIT
    )
    return "api-logged"


def test_a_training_jobs_log_is_one_stream_read_with_boto3(api_server, logged_job):
    logs = api_server.client("logs")
    streams = logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix=f"{logged_job}/")
    _valid("DescribeLogStreams", streams)
    (stream,) = streams["logStreams"]
    assert stream["logStreamName"].startswith(f"{logged_job}/algo-1-")
    page = logs.get_log_events(
        logGroupName=GROUP, logStreamName=stream["logStreamName"], startFromHead=True
    )
    _valid("GetLogEvents", page)
    messages = [event["message"] for event in page["events"]]
    assert any("this job runs the installed bigmart" in m for m in messages)
    assert any(m.startswith("read ") and "training rows" in m for m in messages)
    again = logs.get_log_events(
        logGroupName=GROUP,
        logStreamName=stream["logStreamName"],
        nextToken=page["nextForwardToken"],
    )
    assert again["events"] == [] and again["nextForwardToken"] == page["nextForwardToken"]


def test_final_metrics_are_the_metric_definitions_run_over_the_log(
    api_server, sagemaker, logged_job
):
    described = sagemaker.describe_training_job(TrainingJobName=logged_job)
    metrics = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
    logs = api_server.client("logs")
    (stream,) = logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix=logged_job)[
        "logStreams"
    ]
    events = logs.get_log_events(
        logGroupName=GROUP, logStreamName=stream["logStreamName"], startFromHead=True
    )["events"]
    rmse_lines = [e["message"] for e in events if "validation:rmse=" in e["message"]]
    assert rmse_lines, "train logs its validation RMSE"
    logged = float(rmse_lines[-1].split("validation:rmse=")[1].split(";")[0].split()[0])
    assert metrics["validation:rmse"] == pytest.approx(logged)


def test_the_sagemaker_sdk_follows_the_log_of_a_job(api_server, sagemaker, logged_job, capsys):
    import boto3
    import sagemaker as sdk

    # boto3's standard variable for CloudWatch Logs is named after its service id
    # ("CloudWatch Logs"), not its endpoint prefix: AWS_ENDPOINT_URL_LOGS is not read.
    os.environ["AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"] = api_server.url
    try:
        session = sdk.Session(
            boto_session=boto3.Session(
                region_name="eu-west-1",
                aws_access_key_id="anything",
                aws_secret_access_key="anything",
            ),
            sagemaker_client=sagemaker,
        )
        session.logs_for_job(logged_job, wait=False)
    finally:
        del os.environ["AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"]
    printed = capsys.readouterr().out
    assert "this job runs the installed bigmart" in printed
    assert "validation:rmse=" in printed


def test_a_missing_stream_is_cloudwatchs_resource_not_found(api_server):
    logs = api_server.client("logs")
    with pytest.raises(ClientError) as raised:
        logs.get_log_events(logGroupName=GROUP, logStreamName="no-such-job/algo-1-1")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as raised:
        logs.get_log_events(logGroupName=GROUP, logStreamName="../../etc/passwd")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as raised:
        logs.put_retention_policy(logGroupName=GROUP, retentionInDays=1)
    assert raised.value.response["Error"]["Code"] == "UnknownOperationException"
