"""The same jobs with each engine: ``process`` always; ``podman``/``docker`` when the image
has been built (CI builds it with scripts/container-test and lists the engines in
``BIGMART_TEST_ENGINES``, e.g. ``process,podman``)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from bigmart.data import synthetic as synth
from bigmart.local.predict import predict_csv
from support.capture import body, folder_files, records_of
from support.cli import BIGMART

ENGINES = [e for e in os.environ.get("BIGMART_TEST_ENGINES", "process").split(",") if e]
IMAGE = os.environ.get("BIGMART_TEST_IMAGE", "localhost/bigmart:latest")
LINE = (
    "FDW58,20.75,Low Fat,0.007564836,Snack Foods,107.8622,OUT049,1999,Medium,Tier 1,"
    "Supermarket Type1"
)


def bigmart(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BIGMART, *args], capture_output=True, text=True, timeout=600)


def engine_args(engine: str) -> list[str]:
    return ["--engine", engine, "--image", IMAGE] if engine != "process" else []


@pytest.mark.parametrize("engine", ENGINES)
def test_train_transform_and_endpoint_with_engine(engine, tmp_path, real_train_csv, real_test_csv):
    name = f"engine-{engine}"
    trained = bigmart(
        "train",
        "--data",
        str(real_train_csv),
        "--output",
        str(tmp_path),
        "--name",
        name,
        "--hp",
        "n_estimators=30",
        *engine_args(engine),
    )
    assert trained.returncode == 0, trained.stdout + trained.stderr
    assert "validation:rmse=" in trained.stdout
    model = tmp_path / name / "output" / "model.tar.gz"
    assert model.exists()

    bad = tmp_path / "bad.csv"
    bad.write_text(real_train_csv.read_text().replace("Item_MRP", "Item_Price", 1))
    failed = bigmart(
        "train",
        "--data",
        str(bad),
        "--output",
        str(tmp_path),
        "--name",
        f"{name}-bad",
        *engine_args(engine),
    )
    assert failed.returncode == 1
    assert "missing column(s) Item_MRP" in failed.stderr
    assert not list((tmp_path / f"{name}-bad" / "model").iterdir())

    source = tmp_path / "score" / "rows.csv"
    source.parent.mkdir()
    source.write_text(synth.csv_text(2_000, seed=5, with_target=False))
    transformed = bigmart(
        "transform",
        "--model",
        str(model),
        "--input",
        str(source.parent),
        "--output",
        str(tmp_path / "out"),
        "--max-payload-mb",
        "1",
        *engine_args(engine),
    )
    assert transformed.returncode == 0, transformed.stdout + transformed.stderr
    predict_csv(model, source, tmp_path / "expected.csv")
    assert (tmp_path / "out" / "rows.csv.out").read_bytes() == (
        tmp_path / "expected.csv"
    ).read_bytes()

    endpoint = f"ep-{engine}"
    created = bigmart(
        "endpoint",
        "create",
        "--model",
        str(model),
        "--name",
        endpoint,
        "--workers",
        "1",
        "--capture-s3-uri",
        str(tmp_path / "capture"),
        *engine_args(engine),
    )
    assert created.returncode == 0, created.stdout + created.stderr
    try:
        body_file = tmp_path / "body.csv"
        body_file.write_text(f"{LINE}\n{LINE}\n")
        invoked = bigmart(
            "endpoint", "invoke", endpoint, "--body", str(body_file), "--accept", "application/json"
        )
        assert invoked.returncode == 0, invoked.stderr
        assert len(json.loads(invoked.stdout)["predictions"]) == 2
    finally:
        deleted = bigmart("endpoint", "delete", endpoint)
    assert deleted.returncode == 0
    # Data capture: the folder is mounted into a container and written as SageMaker's.
    (record,) = records_of(folder_files(tmp_path / "capture"), endpoint)
    assert body(record["captureData"]["endpointInput"]) == body_file.read_bytes()
