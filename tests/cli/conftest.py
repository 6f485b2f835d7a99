"""The environment a ``bigmart`` child process gets to reach moto instead of AWS."""

from __future__ import annotations

import os

import pytest

from support.aws_server import (
    OTHER_CREDENTIAL_SOURCES,
    MotoServer,
)


@pytest.fixture
def env(moto: MotoServer) -> dict[str, str]:
    moto.reset()
    environment = {k: v for k, v in os.environ.items() if k not in OTHER_CREDENTIAL_SOURCES}
    environment.update(moto.environment())
    return environment
