"""The same ``bigmart`` commands with ``--instance-type ml.…``: run on SageMaker (moto on
127.0.0.1 stands in for it), with the requests' contents checked on the service's side."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import boto3

from bigmart.local.jobs import JobStore
from support.aws_server import (
    REGION,
    ROLE_ARN,
)
from support.remote import IMAGE, ON_AWS, bigmart, sagemaker


def train_on_aws(env: dict[str, str], name: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """``bigmart train`` of s3://my-bucket/train/ on SageMaker (moto)."""
    data = ["--data", "s3://my-bucket/train/", "--output", "s3://my-bucket/models/"]
    return bigmart(env, "train", *data, "--name", name, *extra, *ON_AWS)


def transform_on_aws(
    env: dict[str, str], name: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    """``bigmart transform`` of s3://my-bucket/in/ on SageMaker (moto)."""
    model = ["--model", "s3://my-bucket/models/m/model.tar.gz"]
    data = ["--input", "s3://my-bucket/in/", "--output", "s3://my-bucket/out/"]
    return bigmart(env, "transform", *model, *data, "--name", name, *extra, *ON_AWS)


def test_train_on_sagemaker_sends_the_job_and_waits(env):
    result = train_on_aws(
        env,
        "remote-1",
        "--validation",
        "s3://my-bucket/val/",
        "--hp",
        "n_estimators=300",
        "--hp",
        "max_depth=8",
        "--spot",
        "--wait",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "started on SageMaker" in result.stdout and "status: Completed" in result.stdout
    job = sagemaker(env).describe_training_job(TrainingJobName="remote-1")
    assert job["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert job["RoleArn"] == ROLE_ARN
    assert job["HyperParameters"] == {"n_estimators": "300", "max_depth": "8"}
    channels = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in job["InputDataConfig"]
    }
    assert channels == {"training": "s3://my-bucket/train/", "validation": "s3://my-bucket/val/"}
    assert job["EnableManagedSpotTraining"] is True


def test_hyperparameters_are_checked_before_anything_is_sent(env):
    result = bigmart(
        env,
        "train",
        "--data",
        "s3://my-bucket/t/",
        "--output",
        "s3://my-bucket/m/",
        "--hp",
        "trees=3",
        *ON_AWS,
    )
    assert result.returncode == 2 and "unknown hyper-parameter(s) trees" in result.stderr
    assert sagemaker(env).list_training_jobs()["TrainingJobSummaries"] == []


def test_remote_runs_need_s3_locations_a_role_and_an_image(env):
    local_data = bigmart(
        env, "train", "--data", "train.csv", "--output", "s3://my-bucket/m/", *ON_AWS
    )
    assert local_data.returncode == 2 and "--data must be an s3:// URI" in local_data.stderr
    no_role = bigmart(
        env,
        "train",
        "--data",
        "s3://my-bucket/t/",
        "--output",
        "s3://my-bucket/m/",
        "--instance-type",
        "ml.m5.large",
    )
    assert no_role.returncode == 2 and "needs --role and --image" in no_role.stderr


def test_endpoint_on_sagemaker_create_invoke_delete(env, moto):
    created = bigmart(
        env,
        "endpoint",
        "create",
        "--model",
        "s3://my-bucket/models/m/model.tar.gz",
        "--name",
        "remote-ep",
        "--capture-s3-uri",
        "s3://my-bucket/capture/",
        "--capture-percent",
        "30",
        *ON_AWS,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    described = sagemaker(env).describe_endpoint_config(EndpointConfigName="remote-ep")
    assert described["ProductionVariants"][0]["InstanceType"] == "ml.m5.large"
    assert described["DataCaptureConfig"]["DestinationS3Uri"] == "s3://my-bucket/capture/"
    assert described["DataCaptureConfig"]["InitialSamplingPercentage"] == 30
    moto.set_endpoint_results([{"Body": "1234.5\n", "ContentType": "text/csv"}])
    body = Path(env.get("TMPDIR", "/tmp")) / f"body-{os.getpid()}.csv"
    body.write_text(
        "FDW58,20.75,Low Fat,0.0075,Snack Foods,107.86,OUT049,1999,Medium,"
        "Tier 1,Supermarket Type1\n"
    )
    invoked = bigmart(env, "endpoint", "invoke", "remote-ep", "--body", str(body))
    assert invoked.returncode == 0, invoked.stderr
    assert invoked.stdout == "1234.5\n"
    deleted = bigmart(env, "endpoint", "delete", "remote-ep")
    assert deleted.returncode == 0, deleted.stderr
    assert "endpoint remote-ep" in deleted.stdout
    assert sagemaker(env).list_endpoints()["Endpoints"] == []


def test_transform_on_sagemaker_maps_every_option(env):
    result = transform_on_aws(
        env,
        "remote-tf",
        "--max-payload-mb",
        "4",
        "--max-concurrent-transforms",
        "3",
        "--batch-strategy",
        "MultiRecord",
        "--join-source",
        "Input",
        "--output-filter",
        "$[0,-1]",
        "--input-filter",
        "$[1:]",
        "--compression-type",
        "Gzip",
        "--accept",
        "text/csv",
        "--wait",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    job = sagemaker(env).describe_transform_job(TransformJobName="remote-tf")
    assert (job["MaxPayloadInMB"], job["MaxConcurrentTransforms"], job["BatchStrategy"]) == (
        4,
        3,
        "MultiRecord",
    )
    assert job["TransformInput"]["SplitType"] == "Line"
    assert job["TransformInput"]["CompressionType"] == "Gzip"
    assert job["TransformOutput"]["AssembleWith"] == "Line"
    assert job["DataProcessing"] == {
        "InputFilter": "$[1:]",
        "OutputFilter": "$[0,-1]",
        "JoinSource": "Input",
    }
    assert job["ModelName"] == "remote-tf"


def test_a_remote_training_job_is_recorded_with_its_outcome(env):
    assert train_on_aws(env, "remote-recorded", "--wait").returncode == 0
    shown = json.loads(bigmart(env, "jobs", "show", "remote-recorded").stdout)
    described = sagemaker(env).describe_training_job(TrainingJobName="remote-recorded")
    assert (shown["kind"], shown["status"]) == ("training", "Completed")
    assert shown["parameters"]["on"] == "sagemaker"
    assert shown["parameters"]["arn"] == described["TrainingJobArn"]
    assert shown["parameters"]["training"] == "s3://my-bucket/train/"
    assert shown["artifacts"]["model"] == described["ModelArtifacts"]["S3ModelArtifacts"]
    assert shown["seconds"] is not None and shown["seconds"] >= 0


def test_a_remote_job_not_waited_for_is_brought_up_to_date_when_listed(env):
    result = transform_on_aws(env, "remote-later")
    assert result.returncode == 0, result.stderr
    assert "bigmart jobs show remote-later" in result.stdout
    assert JobStore(Path(env["BIGMART_HOME"])).get("remote-later").status == "InProgress"
    described = sagemaker(env).describe_transform_job(TransformJobName="remote-later")
    listing = bigmart(env, "jobs", "--kind", "transform")
    line = next(x for x in listing.stdout.splitlines() if x.startswith("remote-later "))
    assert line.split()[1:3] == ["transform", described["TransformJobStatus"]]
    shown = json.loads(bigmart(env, "jobs", "show", "remote-later").stdout)
    assert shown["artifacts"]["output"] == "s3://my-bucket/out/"


def test_a_used_job_name_is_refused_before_anything_is_sent(env):
    assert train_on_aws(env, "remote-twice").returncode == 0
    again = train_on_aws(env, "remote-twice")
    assert again.returncode == 2 and "'remote-twice' already exists" in again.stderr
    assert len(sagemaker(env).list_training_jobs()["TrainingJobSummaries"]) == 1


def test_listing_without_aws_access_keeps_the_record_and_says_why(env):
    JobStore(Path(env["BIGMART_HOME"])).create(
        "remote-unreachable", "training", {"on": "sagemaker", "region": REGION}, "InProgress"
    )
    broken = {k: v for k, v in env.items() if not k.startswith("AWS_")}
    listing = bigmart({**broken, "AWS_DEFAULT_REGION": REGION}, "jobs")
    assert listing.returncode == 0
    line = next(x for x in listing.stdout.splitlines() if x.startswith("remote-unreachable "))
    assert line.split()[2] == "InProgress"
    assert "remote-unreachable: status not refreshed from SageMaker" in listing.stderr
    assert "Traceback" not in listing.stderr


def test_aws_errors_are_one_clear_line(env):
    broken = {**env, "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": ""}
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        broken.pop(key)
    result = bigmart(
        broken, "train", "--data", "s3://my-bucket/t/", "--output", "s3://my-bucket/m/", *ON_AWS
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "No AWS credentials found" in lines[0]
    assert "Traceback" not in result.stderr


def test_jobs_describe_answers_in_sagemakers_shape_for_both_backends(env, tmp_path):
    """One command, two backends, one shape: a job run here and a job run on SageMaker
    (moto) are both described with DescribeTrainingJob's answer, checked by botocore."""
    import botocore.session
    from botocore.validate import ParamValidator

    from bigmart.data import synthetic as synth

    data = tmp_path / "train.csv"
    synth.write_csv(data, 300, seed=1)
    local = bigmart(
        env, "train", "--data", str(data), "--output", str(tmp_path / "runs"),
        "--name", "here", "--hp", "n_estimators=5",
    )  # fmt: skip
    assert local.returncode == 0, local.stderr
    assert train_on_aws(env, "there", "--wait").returncode == 0
    shape = (
        botocore.session.get_session()
        .get_service_model("sagemaker")
        .operation_model("DescribeTrainingJob")
        .output_shape
    )
    for name in ("here", "there"):
        result = bigmart(env, "jobs", "describe", name)
        assert result.returncode == 0, result.stderr
        described = json.loads(result.stdout)
        report = ParamValidator().validate(described, shape)
        assert not report.has_errors(), report.generate_report()
        assert (described["TrainingJobName"], described["TrainingJobStatus"]) == (
            name,
            "Completed",
        )
    here = json.loads(bigmart(env, "jobs", "describe", "here").stdout)
    assert here["TrainingJobArn"].endswith(":training-job/here")
    assert Path(here["ModelArtifacts"]["S3ModelArtifacts"]).is_file()
    missing = bigmart(env, "jobs", "describe", "nowhere")
    assert missing.returncode == 2 and "'nowhere'" in missing.stderr


def test_remote_records_hold_the_arn_the_resolved_region_and_the_instance_type(env):
    """No ``--region``: the record holds the region boto3 resolved (AWS_REGION here)."""
    assert train_on_aws(env, "remote-placed").returncode == 0
    assert transform_on_aws(env, "remote-placed-tf").returncode == 0
    model = "s3://my-bucket/models/m/model.tar.gz"
    created = bigmart(env, "endpoint", "create", "--model", model, "--name", "remote-placed-ep",
                      *ON_AWS)  # fmt: skip
    assert created.returncode == 0, created.stderr
    client = sagemaker(env)
    arns = {
        "remote-placed": client.describe_training_job(TrainingJobName="remote-placed")[
            "TrainingJobArn"
        ],
        "remote-placed-tf": client.describe_transform_job(TransformJobName="remote-placed-tf")[
            "TransformJobArn"
        ],
        "remote-placed-ep": client.describe_endpoint(EndpointName="remote-placed-ep")[
            "EndpointArn"
        ],
    }
    for name, arn in arns.items():
        parameters = json.loads(bigmart(env, "jobs", "show", name).stdout)["parameters"]
        assert parameters["arn"] == arn, name
        assert parameters["region"] == REGION, name
        assert parameters["instance_type"] == "ml.m5.large", name


def test_an_endpoint_is_invoked_and_deleted_in_the_region_it_was_created_in(env, moto):
    """Created with --region, the endpoint is found there later without --region (the
    environment's default region is another one)."""
    created = bigmart(
        env, "endpoint", "create", "--model", "s3://my-bucket/models/m/model.tar.gz",
        "--name", "west-ep", "--region", "us-west-2", *ON_AWS,
    )  # fmt: skip
    assert created.returncode == 0, created.stdout + created.stderr
    assert env["AWS_DEFAULT_REGION"] != "us-west-2"
    record = json.loads(bigmart(env, "jobs", "show", "west-ep").stdout)
    assert record["parameters"]["region"] == "us-west-2"
    moto.set_endpoint_results([{"Body": "1.5\n", "ContentType": "text/csv"}])
    body = Path(env.get("TMPDIR", "/tmp")) / f"west-{os.getpid()}.csv"
    body.write_text("FDW58,20.75,Low Fat,0.0075,Snack Foods,107.86,OUT049,1999,Medium,,\n")
    invoked = bigmart(env, "endpoint", "invoke", "west-ep", "--body", str(body))
    assert invoked.returncode == 0, invoked.stderr
    deleted = bigmart(env, "endpoint", "delete", "west-ep")
    assert deleted.returncode == 0, deleted.stderr
    west = boto3.session.Session(region_name="us-west-2").client(
        "sagemaker",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    assert west.list_endpoints()["Endpoints"] == []
