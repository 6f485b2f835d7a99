"""The SageMaker Python SDK v2, unmodified, against ``bigmart api``: ``Estimator.fit`` streams
the job's log, ``deploy`` hosts the model, ``Predictor.predict`` answers as ``bigmart predict``
does on the same archive, ``Estimator.attach`` reads the job and its tags back and its
``Transformer.transform`` writes each ``.out`` to the default bucket. The SDK is pointed
here by boto3's standard variables only (S3 and STS at the moto server), plus the SDK's own
defaults file for the default bucket's name, as a user's script would be.

Run with each of ``BIGMART_TEST_ENGINES`` (``process`` unless CI set it): with ``podman``
the api runs the project's image where the SDK names ``bigmart:latest`` (``--image-map``),
as scripts/test's step 4 does."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import redirect_stdout
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest

from support.aws_server import OTHER_CREDENTIAL_SOURCES, REGION, MotoServer
from support.cli import predicted

from .conftest import ROLE, running_api

ENGINES = [e for e in os.environ.get("BIGMART_TEST_ENGINES", "process").split(",") if e]
IMAGE = os.environ.get("BIGMART_TEST_IMAGE", "localhost/bigmart:latest")
#: What the process engine says in each job's log (a container's log is its own).
PROCESS_NOTE = "this job runs the installed bigmart"
BUCKET = "sdk-data"
DEFAULT_BUCKET = "sdk-default"
HYPERPARAMETERS = {"n_estimators": 5, "max_depth": 4}
TAGS = [{"Key": "project", "Value": "bigmart"}]
#: The SDK's waits and log follows poll every 5 to 30 s, defaults meant for AWS, where a job
#: takes minutes; here each takes seconds, so the same calls poll every second instead
#: (following a log, the SDK still describes the job only every 30 s).
SDK_POLLS = (
    "logs_for_job",
    "logs_for_transform_job",
    "wait_for_endpoint",
    "wait_for_job",
    "wait_for_transform_job",
)
#: The SDK's defaults file (found through its variable SAGEMAKER_USER_CONFIG_OVERRIDE): no
#: telemetry calls, and the default bucket named, because the SDK looks the account up with
#: an STS client given an explicit AWS endpoint URL, which no variable overrides.
SDK_CONFIG = f"""\
SchemaVersion: '1.0'
SageMaker:
  PythonSDK:
    Modules:
      TelemetryOptOut: true
      Session:
        DefaultS3Bucket: {DEFAULT_BUCKET}
"""


@dataclass
class Fitted:
    """What a user's script has after ``fit``: the estimator and what it printed (and the
    test's S3 client and the api's engine)."""

    estimator: Any
    printed: str
    s3: Any
    engine: str


def sdk_environment(api: str, moto: MotoServer, config: Path) -> dict[str, str]:
    """What a user exports: boto3's standard variables, the api for SageMaker, its runtime
    and CloudWatch Logs, moto for S3 and STS (no catch-all AWS_ENDPOINT_URL)."""
    isolated = {k: v for k, v in moto.environment().items() if k != "AWS_ENDPOINT_URL"}
    return {
        **isolated,
        "AWS_ENDPOINT_URL_SAGEMAKER": api,
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": api,
        "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": api,
        "AWS_ENDPOINT_URL_S3": moto.url,
        "AWS_ENDPOINT_URL_STS": moto.url,
        "SAGEMAKER_USER_CONFIG_OVERRIDE": str(config),
    }


@dataclass
class World:
    """moto's S3 client (what the test reads results with) and the api's engine."""

    s3: Any
    engine: str


@pytest.fixture(scope="module", params=ENGINES)
def sdk_world(request, moto, synthetic_csv, tmp_path_factory) -> Iterator[World]:
    """moto's S3 with the training data, a ``bigmart api`` using it with one engine, and this
    process's environment set as ``sdk_environment``."""
    engine = request.param
    moto.reset()
    config = tmp_path_factory.mktemp("sdk_config") / "config.yaml"
    config.write_text(SDK_CONFIG)
    home = tmp_path_factory.mktemp("sdk_home")
    options = ["--engine", engine]
    if engine != "process":
        options += ["--image-map", f"bigmart:latest={IMAGE}"]
    with (
        running_api(home, moto.environment(), *options) as server,
        pytest.MonkeyPatch.context() as patch,
    ):
        for key in (*OTHER_CREDENTIAL_SOURCES, "AWS_ENDPOINT_URL"):
            patch.delenv(key, raising=False)
        for key, value in sdk_environment(server.url, moto, config).items():
            patch.setenv(key, value)
        from sagemaker.session import Session

        for method in SDK_POLLS:
            sooner = functools.partialmethod(getattr(Session, method), poll=1)
            patch.setattr(Session, method, sooner)
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.upload_file(str(synthetic_csv), BUCKET, "train/train.csv")
        yield World(s3, engine)


@pytest.fixture(scope="module")
def fitted(sdk_world) -> Fitted:
    """``Estimator.fit`` as the SDK's docs write it, waiting and streaming the log."""
    from sagemaker.estimator import Estimator

    estimator = Estimator(
        image_uri="bigmart:latest",
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.large",
        output_path=f"s3://{BUCKET}/models",
        hyperparameters=HYPERPARAMETERS,
        tags=TAGS,
    )
    printed = StringIO()
    with redirect_stdout(printed):
        estimator.fit({"training": f"s3://{BUCKET}/train/"})
    return Fitted(estimator, printed.getvalue(), sdk_world.s3, sdk_world.engine)


@pytest.fixture(scope="module")
def rows(real_test_csv) -> pd.DataFrame:
    """Twenty real rows, as a user hands them to ``predict``."""
    return pd.read_csv(real_test_csv, nrows=20)


@pytest.fixture(scope="module")
def expected(fitted, rows, tmp_path_factory) -> list[float]:
    """``bigmart predict`` on the job's model.tar.gz, downloaded from S3."""
    folder = tmp_path_factory.mktemp("sdk_expected")
    bucket, _, key = fitted.estimator.model_data.removeprefix("s3://").partition("/")
    fitted.s3.download_file(bucket, key, str(folder / "model.tar.gz"))
    rows.to_csv(folder / "rows.csv", index=False)
    return predicted(str(folder / "model.tar.gz"), folder / "rows.csv", folder / "out.csv")


def test_fit_waits_and_streams_the_jobs_log(fitted):
    job = fitted.estimator.latest_training_job.name
    assert job.startswith("bigmart-")  # the SDK named it after the image
    assert (PROCESS_NOTE in fitted.printed) == (fitted.engine == "process")
    assert any(
        line.startswith("read ") and "training rows" in line for line in fitted.printed.splitlines()
    ), fitted.printed
    assert "Completed - Training job completed" in fitted.printed
    assert fitted.estimator.model_data == f"s3://{BUCKET}/models/{job}/output/model.tar.gz"
    head = fitted.s3.head_object(Bucket=BUCKET, Key=f"models/{job}/output/model.tar.gz")
    assert head["ContentLength"] > 0


def test_a_failed_fit_raises_the_sdks_error_with_the_jobs_reason(sdk_world):
    from sagemaker.estimator import Estimator
    from sagemaker.exceptions import UnexpectedStatusException

    sdk_world.s3.put_object(Bucket=BUCKET, Key="bad/train.csv", Body=b"a,b\n1,2\n")
    estimator = Estimator(
        image_uri="bigmart:latest",
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.large",
        output_path=f"s3://{BUCKET}/models",
    )
    printed = StringIO()
    with redirect_stdout(printed), pytest.raises(UnexpectedStatusException) as raised:
        estimator.fit({"training": f"s3://{BUCKET}/bad/"})
    assert "Failed. Reason: Bad training data" in str(raised.value)
    assert "missing column(s)" in str(raised.value)
    assert "Failed - Training job failed" in printed.getvalue()


def test_deploy_hosts_the_model_and_predict_equals_bigmart_predict(fitted, rows, expected):
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.serializers import CSVSerializer

    predictor = fitted.estimator.deploy(
        initial_instance_count=1,
        instance_type="ml.m5.large",
        serializer=CSVSerializer(),
        deserializer=JSONDeserializer(),
    )
    try:
        answer = predictor.predict(rows)
    finally:
        predictor.delete_endpoint()
    assert answer["predictions"] == expected
    client = fitted.estimator.sagemaker_session.sagemaker_client
    live = [e["EndpointName"] for e in client.list_endpoints()["Endpoints"]]
    assert predictor.endpoint_name not in live


def test_an_attached_estimators_transformer_writes_each_objects_out_to_s3(fitted, rows, expected):
    """A later script attaches to the finished job (Describe and ListTags) and batch
    transforms into the session's default bucket."""
    from sagemaker.estimator import Estimator

    job = fitted.estimator.latest_training_job.name
    attached = Estimator.attach(job)
    assert attached.model_data == fitted.estimator.model_data
    assert attached.tags == TAGS
    assert attached.hyperparameters() == {k: str(v) for k, v in HYPERPARAMETERS.items()}
    fitted.s3.put_object(
        Bucket=BUCKET, Key="in/rows.csv", Body=rows.to_csv(index=False, header=False).encode()
    )
    transformer = attached.transformer(
        instance_count=1, instance_type="ml.m5.large", assemble_with="Line"
    )
    printed = StringIO()
    with redirect_stdout(printed):
        transformer.transform(
            f"s3://{BUCKET}/in/", content_type="text/csv", split_type="Line", wait=True, logs=True
        )
    assert (PROCESS_NOTE in printed.getvalue()) == (fitted.engine == "process")
    assert "1 input object(s)" in printed.getvalue()
    name = transformer.latest_transform_job.name
    described = transformer.sagemaker_session.describe_transform_job(name)
    assert described["TransformJobStatus"] == "Completed"
    assert transformer.output_path == f"s3://{DEFAULT_BUCKET}/{name}"
    out = fitted.s3.get_object(Bucket=DEFAULT_BUCKET, Key=f"{name}/rows.csv.out")["Body"].read()
    assert [float(x) for x in out.decode().split()] == expected


def test_list_tags_of_a_missing_resource_is_a_validation_exception(fitted):
    client = fitted.estimator.sagemaker_session.sagemaker_client
    job_arn = fitted.estimator.latest_training_job.describe()["TrainingJobArn"]
    assert client.list_tags(ResourceArn=job_arn)["Tags"] == TAGS
    missing = job_arn.replace(":training-job/", ":model/")
    with pytest.raises(client.exceptions.ClientError, match="ValidationException"):
        client.list_tags(ResourceArn=missing)
