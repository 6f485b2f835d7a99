"""The numbers of the training report (``report.json``) and the model's baseline profile.

Both are drawn from one ``TrainingEvidence``: the fitted model, its rows, and what the
exported model (featurizer + ONNX, as the endpoint serves it) predicts for the validation
rows. The model's metrics are copied from metrics.json, never recomputed; the charts and
group tables use the exported model's predictions, which differ from scikit-learn's (the
metrics') by less than 0.01 sales units.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import KFold

from bigmart.data.reading import LabelledData
from bigmart.model import baseline as baseline_profile
from bigmart.model.artifact import ModelArtifact
from bigmart.model.cleaning_counts import cleaning_counts, unseen_categories
from bigmart.model.forest import FittedModel, score, take
from bigmart.model.hyperparameters import HyperParameters
from bigmart.model.importance import permutation_importance
from bigmart.model.metrics import json_metrics
from bigmart.model.predictor import Predictor

FORMAT = "bigmart-report/1"
#: Points in the predicted-against-actual chart (a seeded sample above it).
MAX_POINTS = 2_000
#: The groups residuals are broken down by: Big Mart's largest effects.
RESIDUAL_GROUPS = ("Outlet_Type", "Outlet_Identifier")


@dataclass
class TrainingEvidence:
    """A finished fit and what its exported model predicts for the rows it is judged on
    (the validation rows, or the training rows when there are none)."""

    fitted: FittedModel
    training: LabelledData
    validation: LabelledData | None
    exported: Predictor
    onnx_size: int
    predictions: np.ndarray  # the exported model's, for the judged rows

    @classmethod
    def gather(
        cls,
        fitted: FittedModel,
        training: LabelledData,
        validation: LabelledData | None,
        onnx: bytes,
        featurizer: dict[str, Any],
    ) -> TrainingEvidence:
        exported = Predictor(ModelArtifact(onnx=onnx, featurizer=featurizer, metadata={}))
        judged = validation if validation is not None else training
        predictions = exported.predict(judged.features).astype(np.float64)
        return cls(fitted, training, validation, exported, len(onnx), predictions)

    def baseline(self) -> dict[str, Any]:
        """``baseline.json``: the training rows' raw profile and the predictions' spread."""
        return baseline_profile.profile(
            self.training.features,
            self.predictions,
            predictions_from="validation" if self.validation is not None else "training",
        )

    def write_report(
        self,
        folder: str | os.PathLike[str],
        hp: HyperParameters,
        metrics: dict[str, float | None],
        metadata: dict[str, Any],
        *,
        job_name: str | None = None,
    ) -> Path:
        """report.json and report.html into ``folder``; the HTML's path."""
        from bigmart.report.training import write_report  # matplotlib: only for a report

        return write_report(folder, self.report(hp, metrics, metadata, job_name=job_name))

    def report(
        self,
        hp: HyperParameters,
        metrics: dict[str, float | None],
        metadata: dict[str, Any],
        *,
        job_name: str | None = None,
    ) -> dict[str, Any]:
        """``report.json``: everything the HTML shows, as numbers."""
        validation = self.validation
        document: dict[str, Any] = {
            "format": FORMAT,
            "job": job_name,
            "created": metadata.get("created"),
            "metrics": dict(metrics),
            "baselines": baselines(self.training, validation, hp),
            "rows": metadata.get("rows"),
            "hyperparameters": hp.as_strings(),
            "model": {
                "onnx_bytes": self.onnx_size,
                "trees": hp.n_estimators,
                "features_out": list(self.fitted.featurizer.feature_names_out_),
            },
            "training_seconds": metadata.get("training_seconds"),
            "versions": {**metadata.get("versions", {}), "matplotlib": _version("matplotlib")},
            "cleaning": {
                "training": cleaning_counts(self.fitted.featurizer, self.training.features),
                "validation": None,
                "unseen_in_validation": None,
            },
            "validation": None,
            "residuals": None,
            "importance": None,
        }
        if validation is None:
            return document
        featurizer = self.fitted.featurizer
        document["cleaning"]["validation"] = cleaning_counts(featurizer, validation.features)
        document["cleaning"]["unseen_in_validation"] = unseen_categories(
            featurizer, validation.features
        )
        document["validation"] = predicted_against_actual(
            validation.target, self.predictions, seed=hp.random_state
        )
        document["residuals"] = {
            "definition": "actual - predicted (positive: the model predicts too little)",
            "whiskers": "5th and 95th percentiles",
            **{
                name: residuals_by(validation.features[name], validation.target, self.predictions)
                for name in RESIDUAL_GROUPS
            },
        }
        document["importance"] = permutation_importance(
            self.exported.predict, validation.features, validation.target, seed=hp.random_state
        )
        return document


def baselines(
    training: LabelledData, validation: LabelledData | None, hp: HyperParameters
) -> dict[str, dict[str, float | None]]:
    """The model's metrics for two naive predictors fitted on the same training rows:
    the mean sales, and each outlet's mean sales (the overall mean for an unseen outlet).
    With ``cv_folds`` they are cross-validated on the folds the forest's CV uses."""
    predictors = {"mean": _MeanSales, "outlet_mean": _OutletMeanSales}
    document = {}
    for name, kind in predictors.items():
        fitted = kind(training)
        metrics = {"train:rmse": score(training.target, fitted.predict(training)).rmse}
        if validation is not None:
            scores = score(validation.target, fitted.predict(validation))
            metrics.update({f"validation:{k}": v for k, v in scores.as_dict().items()})
        if hp.cv_folds:
            rmses = np.array([_fold_rmse(kind, fold) for fold in _folds(training, hp)])
            metrics["cv:rmse_mean"] = float(rmses.mean())
            metrics["cv:rmse_std"] = float(rmses.std())
        document[name] = json_metrics(metrics)
    return document


def predicted_against_actual(
    actual: np.ndarray, predicted: np.ndarray, *, seed: int
) -> dict[str, Any]:
    """The validation rows' actual and predicted sales (a seeded sample of ``MAX_POINTS``
    when there are more), rounded to cents."""
    chosen = np.arange(len(actual))
    if len(actual) > MAX_POINTS:
        chosen = np.sort(np.random.default_rng(seed).choice(len(actual), MAX_POINTS, replace=False))
    return {
        "rows": len(actual),
        "points": len(chosen),
        "actual": [round(v, 2) for v in actual[chosen].tolist()],
        "predicted": [round(v, 2) for v in predicted[chosen].tolist()],
    }


def residuals_by(
    labels: list[str | None], actual: np.ndarray, predicted: np.ndarray
) -> list[dict[str, Any]]:
    """Per label (missing as "(missing)"), the residuals' count, mean, RMSE and box
    statistics (5th, 25th, 50th, 75th, 95th percentiles), largest groups first."""
    residuals = actual - predicted
    groups: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        groups.setdefault("(missing)" if label is None else label, []).append(index)
    rows = []
    for label, indices in groups.items():
        values = residuals[indices]
        p5, q1, median, q3, p95 = np.percentile(values, [5, 25, 50, 75, 95]).tolist()
        rows.append(
            {
                "group": label,
                "rows": len(indices),
                "mean": float(values.mean()),
                "rmse": math.sqrt(float(np.mean(values**2))),
                "p5": p5,
                "q1": q1,
                "median": median,
                "q3": q3,
                "p95": p95,
            }
        )
    rows.sort(key=lambda row: (-row["rows"], row["group"]))
    return rows


class _MeanSales:
    def __init__(self, rows: LabelledData) -> None:
        self.mean = float(rows.target.mean())

    def predict(self, rows: LabelledData) -> np.ndarray:
        return np.full(len(rows), self.mean)


class _OutletMeanSales(_MeanSales):
    def __init__(self, rows: LabelledData) -> None:
        super().__init__(rows)
        sums: dict[str | None, float] = {}
        counts: dict[str | None, int] = {}
        for outlet, sales in zip(
            rows.features["Outlet_Identifier"], rows.target.tolist(), strict=True
        ):
            sums[outlet] = sums.get(outlet, 0.0) + sales
            counts[outlet] = counts.get(outlet, 0) + 1
        self.by_outlet = {outlet: sums[outlet] / counts[outlet] for outlet in sums}

    def predict(self, rows: LabelledData) -> np.ndarray:
        outlets = rows.features["Outlet_Identifier"]
        return np.array([self.by_outlet.get(outlet, self.mean) for outlet in outlets])


def _folds(rows: LabelledData, hp: HyperParameters) -> list[tuple[LabelledData, LabelledData]]:
    """The folds of ``forest.cross_validate``: the same KFold, shuffled and seeded alike."""
    folds = KFold(n_splits=hp.cv_folds, shuffle=True, random_state=hp.random_state)
    return [(take(rows, a), take(rows, b)) for a, b in folds.split(np.arange(len(rows)))]


def _fold_rmse(kind: type[_MeanSales], fold: tuple[LabelledData, LabelledData]) -> float:
    train, test = fold
    return score(test.target, kind(train).predict(test)).rmse


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"
