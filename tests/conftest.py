"""Shared fixtures: the real Big Mart data beside the checkout, synthetic data, models."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bigmart.data import synthetic as synth

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("BIGMART_DATA", REPO.parent / "shared" / "data" / "bigmart"))
#: Small forests keep the contract tests quick; the defaults are exercised where it matters.
FAST_HP = {"n_estimators": "20", "max_depth": "6", "min_samples_leaf": "20"}


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
    make_job(root, {"training": real_train_csv}, FAST_HP)
    result = run_train(root)
    assert result.returncode == 0, result.stdout + (root / "output" / "failure").read_text()
    return root / "model"


def make_job(root: Path, channels: dict[str, Path], hyperparameters: dict[str, str]) -> None:
    """An /opt/ml tree with config files and each channel's file copied in."""
    import json

    config = root / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    (config / "inputdataconfig.json").write_text(
        json.dumps({name: {"TrainingInputMode": "File"} for name in channels})
    )
    (config / "resourceconfig.json").write_text(
        json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]})
    )
    for name, source in channels.items():
        folder = root / "input" / "data" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / source.name).write_bytes(source.read_bytes())
    (root / "model").mkdir(exist_ok=True)


def run_train(root: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the installed ``train`` console script exactly as the image does."""
    train = Path(sys.executable).with_name("train")
    return subprocess.run(
        [str(train)],
        env={**os.environ, "OPT_ML": str(root)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
