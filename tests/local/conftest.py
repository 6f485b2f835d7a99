"""A local S3 (moto on 127.0.0.1) that ``bigmart.local.storage`` reaches; the local backend
over a job store of its own, and a second model for endpoints to switch to."""

from __future__ import annotations

import os
from pathlib import Path

import boto3
import pytest

from bigmart.local import storage
from bigmart.local.jobs import JobStore
from bigmart.local.sagemaker import LocalSageMaker
from bigmart.local.training import prepare_job
from support.aws_server import moto_server
from support.training import run_train


@pytest.fixture(scope="module")
def s3_env():
    with moto_server() as server:
        saved = dict(os.environ)
        os.environ.update(server.environment())
        storage.s3_client.cache_clear()
        try:
            yield server.environment()
        finally:
            os.environ.clear()
            os.environ.update(saved)
            storage.s3_client.cache_clear()


@pytest.fixture
def s3(s3_env):
    client = boto3.client("s3")
    bucket = f"bucket-{os.urandom(3).hex()}"
    client.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    return client, bucket


@pytest.fixture
def backend(tmp_path: Path) -> LocalSageMaker:
    return LocalSageMaker(JobStore(tmp_path / "state"), echo=lambda line: None)


@pytest.fixture(scope="package")
def other_model(synthetic_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second model (synthetic data, a small forest): it predicts otherwise."""
    root = tmp_path_factory.mktemp("other_opt_ml")
    prepare_job(root, {"training": synthetic_csv}, {"n_estimators": "5", "max_depth": "3"})
    result = run_train(root)
    assert result.returncode == 0, result.stdout + result.stderr
    return root / "model"
