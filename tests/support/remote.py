"""The ``bigmart`` command run against moto standing in for SageMaker (``--instance-type ml.*``)."""

from __future__ import annotations

import subprocess

import boto3

from support.aws_server import ACCOUNT, REGION, ROLE_ARN
from support.cli import BIGMART

IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/bigmart:latest"
ON_AWS = ["--instance-type", "ml.m5.large", "--role", ROLE_ARN, "--image", IMAGE]


def bigmart(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BIGMART, *args], env=env, capture_output=True, text=True, timeout=120)


def sagemaker(env: dict[str, str]):
    return moto_client(env, "sagemaker")


def moto_client(env: dict[str, str], service: str):
    """A boto3 client of ``service`` at the moto server ``env`` points at."""
    return boto3.session.Session(region_name=REGION).client(
        service,
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
