"""``bigmart api --engine``: with podman or docker the request's own image runs, as SageMaker
runs it (``train`` / ``serve`` with /opt/ml mounted); ``process`` always, the others when CI
has built the image (``BIGMART_TEST_ENGINES``, ``BIGMART_TEST_IMAGE``, as
tests/contract/test_engines.py)."""

from __future__ import annotations

import os

import pytest

from .conftest import FAST_WAIT, ROLE, running_api, training_request

ENGINES = [e for e in os.environ.get("BIGMART_TEST_ENGINES", "process").split(",") if e]
IMAGE = os.environ.get("BIGMART_TEST_IMAGE", "localhost/bigmart:latest")
#: What a user's boto3 code names; ``--image-map`` runs the local image in its place.
ECR_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/bigmart:latest"
ROW = (
    "FDW58,20.75,Low Fat,0.007564836,Snack Foods,107.8622,OUT049,1999,Medium,Tier 1,"
    "Supermarket Type1"
)


@pytest.mark.parametrize("engine", ENGINES)
def test_boto3_trains_and_hosts_the_requests_image_with_engine(engine, tmp_path, synthetic_csv):
    mapped = ["--image-map", f"{ECR_IMAGE}={IMAGE}"]
    with running_api(tmp_path / "home", None, "--engine", engine, *mapped) as server:
        sagemaker, runtime = server.client(), server.client("sagemaker-runtime")
        request = training_request(f"fit-{engine}", str(synthetic_csv), str(tmp_path / "models"))
        request["AlgorithmSpecification"]["TrainingImage"] = ECR_IMAGE
        sagemaker.create_training_job(**request)
        sagemaker.get_waiter("training_job_completed_or_stopped").wait(
            TrainingJobName=f"fit-{engine}", WaiterConfig=FAST_WAIT
        )
        job = sagemaker.describe_training_job(TrainingJobName=f"fit-{engine}")
        assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
        model = job["ModelArtifacts"]["S3ModelArtifacts"]
        sagemaker.create_model(
            ModelName="m",
            ExecutionRoleArn=ROLE,
            PrimaryContainer={"Image": IMAGE, "ModelDataUrl": model},
        )
        sagemaker.create_endpoint_config(
            EndpointConfigName="c",
            ProductionVariants=[
                {"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.m5.large",
                 "InitialInstanceCount": 1}
            ],
        )  # fmt: skip
        sagemaker.create_endpoint(EndpointName="e", EndpointConfigName="c")
        sagemaker.get_waiter("endpoint_in_service").wait(EndpointName="e", WaiterConfig=FAST_WAIT)
        answer = runtime.invoke_endpoint(EndpointName="e", ContentType="text/csv", Body=ROW)
        assert float(answer["Body"].read()) > 0
        sagemaker.delete_endpoint(EndpointName="e")
        sagemaker.get_waiter("endpoint_deleted").wait(EndpointName="e", WaiterConfig=FAST_WAIT)
