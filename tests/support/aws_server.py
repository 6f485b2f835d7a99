"""A local AWS for the tests: moto's server on 127.0.0.1, on a free port.

boto3 reaches it through ``AWS_ENDPOINT_URL`` with dummy credentials, so the code under test
runs unchanged and no request leaves the machine. The environment also closes every way out
that boto3 (or the SageMaker SDK) might otherwise take: no config files or profiles, no
instance-metadata lookup, and a dead proxy for anything that is not 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from moto.server import ThreadedMotoServer

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/SageMakerExecution"
#: Other credential sources boto3 would try (some over the network): remove them from the
#: environment so only the dummy keys, or deliberately nothing, remain.
OTHER_CREDENTIAL_SOURCES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
)


@dataclass
class MotoServer:
    """A running moto server and the few moto-specific controls the tests need."""

    url: str

    def environment(self) -> dict[str, str]:
        """Variables that point boto3 here and nowhere else."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": "/nonexistent/aws-config",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_MAX_ATTEMPTS": "1",
            "HTTP_PROXY": "http://127.0.0.1:9",
            "HTTPS_PROXY": "http://127.0.0.1:9",
            "NO_PROXY": "127.0.0.1,localhost",
        }

    def reset(self) -> None:
        """Forget every resource, so each test starts from an empty account."""
        self._post("/moto-api/reset", {})

    def set_endpoint_results(self, results: list[dict[str, Any]]) -> None:
        """What moto's InvokeEndpoint answers next (Body, ContentType, ...), in order."""
        self._post(
            "/moto-api/static/sagemaker/endpoint-results",
            {"account_id": ACCOUNT, "region": REGION, "results": results},
        )

    def _post(self, path: str, payload: dict[str, Any]) -> None:
        request = urllib.request.Request(
            self.url + path, data=json.dumps(payload).encode(), method="POST"
        )
        # No proxy: the tests' HTTP(S)_PROXY deliberately leads nowhere.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=10) as answer:
            answer.read()


@contextmanager
def moto_server() -> Iterator[MotoServer]:
    """Start moto in a thread on 127.0.0.1 (port 0: the OS picks a free one); stop after."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield MotoServer(url=f"http://{host}:{port}")
    finally:
        server.stop()
