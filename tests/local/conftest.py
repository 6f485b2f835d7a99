"""A local S3 (moto on 127.0.0.1) that ``bigmart.local.storage`` reaches."""

from __future__ import annotations

import os

import boto3
import pytest

from bigmart.local import storage
from support.aws_server import moto_server


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
