"""``bigmart api`` end to end: a plain boto3 script trains, hosts and batch-transforms here,
waiting with boto3's own waiters, and every Describe answer fits botocore's output shape."""

from __future__ import annotations

import http.client
import json
import time
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pandas as pd
import pytest
from botocore.validate import ParamValidator

from support.cli import predicted

from .conftest import CREDENTIALS, FAST_WAIT, ROLE, running_api, training_request

SAGEMAKER = botocore.session.get_session().get_service_model("sagemaker")


def valid(operation: str, answer: dict[str, Any]) -> dict[str, Any]:
    """``answer`` (as boto3 parsed it) fits the operation's output shape."""
    answer = {k: v for k, v in answer.items() if k != "ResponseMetadata"}
    report = ParamValidator().validate(answer, SAGEMAKER.operation_model(operation).output_shape)
    assert not report.has_errors(), report.generate_report()
    return answer


def test_a_training_job_answers_at_once_runs_in_the_background_and_is_waited_for(
    api_server, sagemaker, synthetic_csv, tmp_path
):
    request = training_request("api-fit", str(synthetic_csv), f"file://{tmp_path}/models")
    created = sagemaker.create_training_job(**request)
    assert created["TrainingJobArn"].endswith(":training-job/api-fit")
    running = valid(
        "DescribeTrainingJob", sagemaker.describe_training_job(TrainingJobName="api-fit")
    )
    assert running["TrainingJobStatus"] == "InProgress"  # Create did not wait for the end
    sagemaker.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName="api-fit", WaiterConfig=FAST_WAIT
    )
    done = valid("DescribeTrainingJob", sagemaker.describe_training_job(TrainingJobName="api-fit"))
    assert done["TrainingJobStatus"] == "Completed", done.get("FailureReason")
    artifact = done["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifact == f"{tmp_path}/models/api-fit/output/model.tar.gz"
    assert Path(artifact).is_file()
    assert "validation:rmse" in {m["MetricName"] for m in done["FinalMetricDataList"]}
    assert done["HyperParameters"] == request["HyperParameters"]
    assert done["TrainingEndTime"] >= done["CreationTime"]
    listed = valid("ListTrainingJobs", sagemaker.list_training_jobs(NameContains="api-fit"))
    assert [s["TrainingJobName"] for s in listed["TrainingJobSummaries"]] == ["api-fit"]
    logs = api_server.client("logs")
    (stream,) = logs.describe_log_streams(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix="api-fit/"
    )["logStreams"]
    events = logs.get_log_events(
        logGroupName="/aws/sagemaker/TrainingJobs",
        logStreamName=stream["logStreamName"],
        startFromHead=True,
    )["events"]
    assert any("validation:rmse" in event["message"] for event in events)
    # the job's log is its stream; the api keeps no second copy of it
    assert not (api_server.home / "logs" / "training" / "api-fit.log").exists()


def test_a_stopped_training_job_ends_stopped(api_server, sagemaker, synthetic_csv, tmp_path):
    slow = {"n_estimators": "5000", "n_jobs": "1"}  # minutes: it is stopped first
    request = training_request("api-stop", str(synthetic_csv), str(tmp_path), HyperParameters=slow)
    sagemaker.create_training_job(**request)
    assert sagemaker.stop_training_job(TrainingJobName="api-stop")["ResponseMetadata"]
    sagemaker.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName="api-stop", WaiterConfig=FAST_WAIT
    )
    stopped = valid(
        "DescribeTrainingJob", sagemaker.describe_training_job(TrainingJobName="api-stop")
    )
    assert stopped["TrainingJobStatus"] == "Stopped"
    with pytest.raises(sagemaker.exceptions.ClientError, match="in status Stopped"):
        sagemaker.stop_training_job(TrainingJobName="api-stop")


@pytest.fixture(scope="module")
def rows(real_test_csv, tmp_path_factory) -> Path:
    """Twenty real rows with their header, as ``bigmart predict`` takes them."""
    path = tmp_path_factory.mktemp("rows") / "rows.csv"
    path.write_text("".join(real_test_csv.read_text().splitlines(keepends=True)[:21]))
    return path


@pytest.fixture(scope="module")
def expected(trained, rows, tmp_path_factory) -> list[float]:
    """``bigmart predict`` on the api's model archive: what every other path must answer."""
    return predicted(trained, rows, tmp_path_factory.mktemp("predicted") / "out.csv")


def test_an_endpoint_is_created_waited_for_invoked_and_deleted(
    api_server, sagemaker, trained, rows, expected, monkeypatch
):
    model = {"Image": "bigmart:latest", "ModelDataUrl": trained}
    model["Environment"] = {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"}
    sagemaker.create_model(ModelName="api-model", PrimaryContainer=model, ExecutionRoleArn=ROLE)
    valid("DescribeModel", sagemaker.describe_model(ModelName="api-model"))
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": "api-model",
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1,
    }
    sagemaker.create_endpoint_config(EndpointConfigName="api-config", ProductionVariants=[variant])
    valid(
        "DescribeEndpointConfig",
        sagemaker.describe_endpoint_config(EndpointConfigName="api-config"),
    )
    sagemaker.create_endpoint(EndpointName="api-endpoint", EndpointConfigName="api-config")
    creating = valid("DescribeEndpoint", sagemaker.describe_endpoint(EndpointName="api-endpoint"))
    assert creating["EndpointStatus"] == "Creating"  # Create did not wait for /ping
    sagemaker.get_waiter("endpoint_in_service").wait(
        EndpointName="api-endpoint", WaiterConfig=FAST_WAIT
    )
    serving = valid("DescribeEndpoint", sagemaker.describe_endpoint(EndpointName="api-endpoint"))
    assert serving["EndpointStatus"] == "InService"
    listed = valid("ListEndpoints", sagemaker.list_endpoints())
    assert "api-endpoint" in [e["EndpointName"] for e in listed["Endpoints"]]

    # The runtime through boto3's standard variable, as a user's unchanged script reaches it.
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", api_server.url)
    runtime = boto3.client("sagemaker-runtime", **CREDENTIALS)
    lines = rows.read_text().splitlines()
    answer = runtime.invoke_endpoint(
        EndpointName="api-endpoint",
        Body="\n".join(lines[1:]).encode(),
        ContentType="text/csv",
        CustomAttributes="trace=1",
    )
    assert answer["ContentType"].startswith("text/csv")
    assert answer["InvokedProductionVariant"] == "AllTraffic"
    assert answer["CustomAttributes"] == "trace=1"
    assert [float(x) for x in answer["Body"].read().split()] == expected

    frame = pd.read_csv(rows)
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    answer = runtime.invoke_endpoint(
        EndpointName="api-endpoint",
        Body=json.dumps({"instances": records}),
        ContentType="application/json",
        Accept="application/json",
    )
    assert json.loads(answer["Body"].read())["predictions"] == expected

    sagemaker.delete_endpoint(EndpointName="api-endpoint")
    sagemaker.get_waiter("endpoint_deleted").wait(
        EndpointName="api-endpoint", WaiterConfig=FAST_WAIT
    )
    with pytest.raises(sagemaker.exceptions.ClientError, match="Could not find endpoint"):
        sagemaker.describe_endpoint(EndpointName="api-endpoint")
    assert "api-endpoint" not in [
        e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]
    ]
    with pytest.raises(runtime.exceptions.ValidationError, match="not found"):
        runtime.invoke_endpoint(EndpointName="api-endpoint", Body=b"x", ContentType="text/csv")


def test_a_transform_job_runs_in_the_background_and_writes_each_objects_out(
    sagemaker, trained, rows, expected, tmp_path
):
    source = tmp_path / "in"
    source.mkdir()
    (source / "rows.csv").write_text(rows.read_text())
    sagemaker.create_model(
        ModelName="api-scorer",
        PrimaryContainer={"Image": "bigmart:latest", "ModelDataUrl": trained},
        ExecutionRoleArn=ROLE,
    )
    sagemaker.create_transform_job(
        TransformJobName="api-score",
        ModelName="api-scorer",
        TransformInput={
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"file://{source}"}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        TransformOutput={"S3OutputPath": str(tmp_path / "out"), "AssembleWith": "Line"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )
    running = valid(
        "DescribeTransformJob", sagemaker.describe_transform_job(TransformJobName="api-score")
    )
    assert running["TransformJobStatus"] == "InProgress"
    sagemaker.get_waiter("transform_job_completed_or_stopped").wait(
        TransformJobName="api-score", WaiterConfig=FAST_WAIT
    )
    done = valid(
        "DescribeTransformJob", sagemaker.describe_transform_job(TransformJobName="api-score")
    )
    assert done["TransformJobStatus"] == "Completed", done.get("FailureReason")
    assert [float(x) for x in (tmp_path / "out" / "rows.csv.out").read_text().split()] == expected
    listed = valid("ListTransformJobs", sagemaker.list_transform_jobs(StatusEquals="Completed"))
    assert "api-score" in [s["TransformJobName"] for s in listed["TransformJobSummaries"]]
    valid("ListModels", sagemaker.list_models())


def test_boto3s_standard_variable_reaches_the_control_plane(api_server, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", api_server.url)
    client = boto3.client("sagemaker", **CREDENTIALS)
    assert client.meta.endpoint_url == api_server.url
    valid("ListEndpointConfigs", client.list_endpoint_configs())


def test_a_training_job_reads_and_writes_s3(moto, synthetic_csv, tmp_path):
    """Data and the model in S3 (moto's, through boto3's standard variables, which the
    server's jobs use as any boto3 code does)."""
    environment = moto.environment()
    moto.reset()
    s3 = boto3.client(
        "s3",
        endpoint_url=environment["AWS_ENDPOINT_URL"],
        region_name=environment["AWS_REGION"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(
        Bucket="data", CreateBucketConfiguration={"LocationConstraint": environment["AWS_REGION"]}
    )
    s3.upload_file(str(synthetic_csv), "data", "train/train.csv")
    with running_api(tmp_path / "home", environment) as server:
        client = server.client()
        client.create_training_job(
            **training_request("api-s3", "s3://data/train/", "s3://data/models")
        )
        client.get_waiter("training_job_completed_or_stopped").wait(
            TrainingJobName="api-s3", WaiterConfig=FAST_WAIT
        )
        done = valid("DescribeTrainingJob", client.describe_training_job(TrainingJobName="api-s3"))
    assert done["TrainingJobStatus"] == "Completed", done.get("FailureReason")
    assert (
        done["ModelArtifacts"]["S3ModelArtifacts"] == "s3://data/models/api-s3/output/model.tar.gz"
    )
    assert s3.head_object(Bucket="data", Key="models/api-s3/output/model.tar.gz")["ContentLength"]


def test_an_idle_connection_outlives_an_sdk_poll_interval(api_server):
    """The SDK polls every few seconds on one kept-alive connection; a server that closes
    idle connections after 5 s (uvicorn's default) races those polls and boto3 fails with
    "Connection was closed before we received a valid response"."""
    host, port = api_server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    request = json.dumps({}).encode()
    headers = {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "SageMaker.ListEndpoints",
    }
    answers = []
    for pause in (0, 7):  # past uvicorn's 5 s, within any poll interval the SDK uses
        time.sleep(pause)
        connection.request("POST", "/", body=request, headers=headers)
        response = connection.getresponse()
        response.read()
        answers.append(response.status)
    assert answers == [200, 200]
    connection.close()
