"""A real ``bigmart api`` on a free port of 127.0.0.1, its own job store, and plain boto3
clients pointed at it: the user's code, unchanged but for ``endpoint_url``."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from bigmart.contract import EndpointStatus
from bigmart.local.jobs import JobStore
from bigmart.local.sagemaker import LocalSageMaker
from bigmart.local.server_process import free_port
from support.cli import BIGMART

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
#: Any credentials are accepted; these make boto3 sign without looking anywhere else.
CREDENTIALS = {
    "region_name": "eu-west-1",
    "aws_access_key_id": "anything",
    "aws_secret_access_key": "anything",
}
#: Waiters poll every second here (SageMaker's default is 30-60 s).
FAST_WAIT = {"Delay": 1, "MaxAttempts": 600}
FAST_HP = {"n_estimators": "5", "max_depth": "4"}


@dataclass
class ApiServer:
    url: str
    home: Path
    log: Path
    process: subprocess.Popen[bytes]

    def client(self, service: str = "sagemaker", **config: Any) -> Any:
        """A plain boto3 client (``config``: botocore Config options)."""
        return boto3.client(
            service,
            endpoint_url=self.url,
            config=Config(retries={"max_attempts": 1}, **config),
            **CREDENTIALS,
        )

    @property
    def store(self) -> JobStore:
        return JobStore(self.home)


@contextmanager
def running_api(
    home: Path,
    environment: Mapping[str, str] | None = None,
    *arguments: str,
    keep_endpoints: bool = False,
) -> Iterator[ApiServer]:
    """``bigmart api`` on a free port with state folder ``home`` (and ``environment``, and
    more ``arguments``); stopped at the end, with any endpoint a failed test left behind
    (unless ``keep_endpoints``: the next api is to find them)."""
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    log = home / "api.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [BIGMART, "api", "--port", str(port), *arguments],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(environment or {}), "BIGMART_HOME": str(home)},
        )
    server = ApiServer(f"http://127.0.0.1:{port}", home, log, process)
    try:
        _wait_for(port, process, log)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=90)
        backend = LocalSageMaker(server.store, echo=lambda line: None)
        for record in [] if keep_endpoints else server.store.list("endpoint"):
            if record.status == EndpointStatus.IN_SERVICE:
                backend.delete_endpoint(record.name)


@pytest.fixture(scope="package")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with running_api(tmp_path_factory.mktemp("api_home")) as server:
        yield server


def _wait_for(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"bigmart api exited ({process.returncode}): {log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"bigmart api did not listen on {port}: {log.read_text()}")


@pytest.fixture(scope="package")
def sagemaker(api_server: ApiServer) -> Any:
    return api_server.client()


def training_request(name: str, data: str, output: str, **changes: Any) -> dict[str, Any]:
    """A CreateTrainingJob request as a boto3 user writes it (locations may be paths or
    ``file://`` URIs here)."""
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": "bigmart:latest", "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "HyperParameters": FAST_HP,
        "InputDataConfig": [
            {
                "ChannelName": "training",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": data}},
            }
        ],
        "OutputDataConfig": {"S3OutputPath": output},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }
    request.update(changes)
    return request


@pytest.fixture(scope="package")
def trained(api_server: ApiServer, sagemaker: Any, synthetic_csv: Path, tmp_path_factory) -> str:
    """A model trained through the api: its S3ModelArtifacts."""
    output = tmp_path_factory.mktemp("api_models")
    sagemaker.create_training_job(
        **training_request("api-shared-fit", f"file://{synthetic_csv}", f"file://{output}")
    )
    sagemaker.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName="api-shared-fit", WaiterConfig=FAST_WAIT
    )
    described = sagemaker.describe_training_job(TrainingJobName="api-shared-fit")
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    return described["ModelArtifacts"]["S3ModelArtifacts"]
