"""Shared fixtures: the real Big Mart data beside the checkout, synthetic data, models, and a
local AWS (moto on 127.0.0.1). Helper functions live in ``support/``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from bigmart import aws
from bigmart.data import synthetic as synth
from bigmart.local.training import prepare_job
from bigmart.model.archive import pack
from support.aws_server import OTHER_CREDENTIAL_SOURCES, MotoServer, moto_server
from support.paths import REAL_DATA
from support.training import FAST_HP, run_train


@pytest.fixture(scope="session", autouse=True)
def state_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Job records go to a temporary state folder, never the user's ~/.bigmart."""
    home = tmp_path_factory.mktemp("bigmart_home")
    os.environ["BIGMART_HOME"] = str(home)
    return home


@pytest.fixture(scope="session")
def real_train_csv() -> Path:
    path = REAL_DATA / "train.csv"
    assert path.exists(), f"the real data is expected at {path} (../shared beside the repo)"
    return path


@pytest.fixture(scope="session")
def real_test_csv() -> Path:
    path = REAL_DATA / "test.csv"
    assert path.exists(), f"the real data is expected at {path} (../shared beside the repo)"
    return path


@pytest.fixture(scope="session")
def synthetic_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("synth") / "train.csv"
    synth.write_csv(path, 3_000, seed=7)
    return path


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory, real_train_csv: Path) -> Path:
    """A model folder trained on the real data by the real ``train`` program."""
    root = tmp_path_factory.mktemp("opt_ml")
    prepare_job(root, {"training": real_train_csv}, FAST_HP, copy_data=True)
    result = run_train(root)
    assert result.returncode == 0, result.stdout + (root / "output" / "failure").read_text()
    return root / "model"


@pytest.fixture(scope="module")
def model_archive(trained_model, tmp_path_factory) -> Path:
    return pack(trained_model, tmp_path_factory.mktemp("archive") / "model.tar.gz")


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with moto_server() as server:
        yield server


@pytest.fixture
def local_aws(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """An empty local AWS, and an environment that reaches nothing else."""
    for key, value in moto.environment().items():
        monkeypatch.setenv(key, value)
    for key in OTHER_CREDENTIAL_SOURCES:
        monkeypatch.delenv(key, raising=False)
    moto.reset()
    return moto


@pytest.fixture
def boto(local_aws: MotoServer) -> boto3.Session:
    return aws.session()
