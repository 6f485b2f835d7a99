"""The training report's numbers: baselines, residual groups, samples and importance."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from bigmart.data.reading import LabelledData, read_labelled
from bigmart.model import forest
from bigmart.model.hyperparameters import HyperParameters
from bigmart.model.importance import permutation_importance
from bigmart.model.report_data import (
    MAX_POINTS,
    TrainingEvidence,
    baselines,
    predicted_against_actual,
    residuals_by,
)
from bigmart.schema import FEATURES


def _rows(outlets: list[str | None], sales: list[float]) -> LabelledData:
    features = {name: [None] * len(sales) for name in FEATURES}
    features["Outlet_Identifier"] = outlets
    return LabelledData(features=features, target=np.array(sales), files=[])


def test_the_baselines_are_the_mean_and_each_outlets_mean():
    training = _rows(["A", "A", "B", "B"], [1.0, 3.0, 10.0, 14.0])
    validation = _rows(["A", "B", "C"], [2.0, 12.0, 7.0])  # C: unseen, gets the overall mean 7
    document = baselines(training, validation, HyperParameters())
    mean = document["mean"]
    assert mean["train:rmse"] == pytest.approx(np.array([1.0, 3.0, 10.0, 14.0]).std())
    assert mean["validation:mae"] == pytest.approx((5 + 5 + 0) / 3)
    outlet = document["outlet_mean"]
    assert outlet["train:rmse"] == pytest.approx(math.sqrt((1 + 1 + 4 + 4) / 4))
    assert outlet["validation:rmse"] == 0.0 and outlet["validation:r2"] == 1.0
    assert "cv:rmse_mean" not in outlet


def test_cross_validated_baselines_use_the_forests_folds(synthetic_csv: Path, monkeypatch):
    data = read_labelled(synthetic_csv)
    hp = HyperParameters(n_estimators=2, cv_folds=4, random_state=3)
    document = baselines(data, None, hp)

    # The forest's CV scores each fold with a fresh fit; a "forest" that is the mean of its
    # training rows is the mean baseline, so forest.cross_validate must agree with it.
    class MeanOnly:
        def __init__(self, target: np.ndarray) -> None:
            self.mean = float(target.mean())

        def predict(self, batch) -> np.ndarray:
            return np.full(len(batch["Item_MRP"]), self.mean)

    monkeypatch.setattr(forest, "fit", lambda batch, target, hp: MeanOnly(target))
    folds = forest.cross_validate(data, hp)
    rmses = np.array([fold.rmse for fold in folds])
    assert document["mean"]["cv:rmse_mean"] == pytest.approx(rmses.mean())
    assert document["mean"]["cv:rmse_std"] == pytest.approx(rmses.std())
    assert document["outlet_mean"]["cv:rmse_mean"] < document["mean"]["cv:rmse_mean"]


def test_residuals_are_grouped_with_their_spread_largest_group_first():
    actual = np.array([10.0, 12.0, 14.0, 5.0, 100.0])
    predicted = np.array([11.0, 11.0, 11.0, 5.0, 90.0])
    groups = residuals_by(["x", "x", "x", "y", None], actual, predicted)
    assert [g["group"] for g in groups] == ["x", "(missing)", "y"]
    x = groups[0]
    assert x["rows"] == 3 and x["mean"] == pytest.approx(1.0)
    assert x["rmse"] == pytest.approx(math.sqrt((1 + 1 + 9) / 3))
    assert x["median"] == 1.0 and x["p5"] < x["q1"] <= x["median"] <= x["q3"] < x["p95"]
    assert groups[1]["mean"] == 10.0


def test_a_large_validation_set_is_sampled_for_the_scatter():
    actual = np.arange(5_000, dtype=float)
    sample = predicted_against_actual(actual, actual * 2, seed=1)
    assert sample["rows"] == 5_000 and sample["points"] == MAX_POINTS == len(sample["actual"])
    assert all(p == 2 * a for a, p in zip(sample["actual"], sample["predicted"], strict=True))
    assert sample == predicted_against_actual(actual, actual * 2, seed=1)  # seeded
    small = predicted_against_actual(np.array([1.234567]), np.array([2.0]), seed=1)
    assert small["actual"] == [1.23] and small["points"] == 1


def test_permutation_importance_ranks_the_column_the_model_uses(synthetic_csv: Path):
    data = read_labelled(synthetic_csv)

    def price_model(batch) -> np.ndarray:  # a "model" that only reads Item_MRP
        return np.nan_to_num(batch["Item_MRP"]) * 20.0

    result = permutation_importance(price_model, data.features, data.target, seed=0)
    columns = result["columns"]
    assert columns[0]["column"] == "Item_MRP"
    assert columns[0]["rmse_increase_mean"] > 100
    assert all(c["rmse_increase_mean"] == 0.0 for c in columns[1:])
    assert len(columns) == len(FEATURES) and len(columns[0]["repeats"]) == result["repeats"]
    assert result["rows"] == 1_000  # sampled from the 3,000 rows


def test_the_evidence_predicts_with_the_exported_model(synthetic_csv: Path):
    data = read_labelled(synthetic_csv)
    hp = HyperParameters(n_estimators=5, n_jobs=1)
    training, validation = forest.split_holdout(data, 0.2, 0)
    fitted = forest.fit(training.features, training.target, hp)
    onnx = forest.to_onnx_bytes(fitted)
    evidence = TrainingEvidence.gather(
        fitted, training, validation, onnx, fitted.featurizer.to_json()
    )
    np.testing.assert_allclose(
        evidence.predictions, fitted.predict(validation.features), rtol=1e-5, atol=0.05
    )
    assert evidence.baseline()["predictions"]["from"] == "validation"
    assert evidence.baseline()["predictions"]["rows"] == len(validation)
