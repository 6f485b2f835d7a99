"""Permutation feature importance of the shipped model over the raw input columns.

scikit-learn's ``permutation_importance`` shuffles one column of the validation rows at a
time and measures how much the RMSE grows. It runs on the whole exported pipeline (the
fitted featurizer, then the ONNX forest the endpoint serves), not on the forest's
engineered matrix: the answer is in the columns a user sends (shuffling
``Item_Identifier`` also shuffles the item fills and ratios built from it), and ONNX
Runtime scores a repeat in milliseconds where scikit-learn's per-tree loop takes ten times
longer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from bigmart.schema import FEATURES, NUMERIC, RawBatch

#: Shuffles per column; the spread over them is reported with the mean.
REPEATS = 5
#: Validation rows used at most (a seeded sample above it): 56 predictions of this many
#: rows cost about 0.8 s of CPU at the default forest, and no more for a larger validation
#: set. The spread over repeats shows what the sample leaves uncertain.
MAX_ROWS = 1_000

Predict = Callable[[RawBatch], np.ndarray]


class _RawRows:
    """A pipeline in scikit-learn's estimator shape over a DataFrame of raw columns."""

    def __init__(self, predict: Predict) -> None:
        self._predict = predict

    def fit(self, frame: pd.DataFrame, target: np.ndarray) -> _RawRows:
        return self  # already fitted: permutation_importance only predicts

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        batch: RawBatch = {
            name: frame[name].to_numpy(dtype=np.float64)
            if name in NUMERIC
            else frame[name].tolist()
            for name in FEATURES
        }
        return np.asarray(self._predict(batch), dtype=np.float64)


def _negative_rmse(model: _RawRows, frame: pd.DataFrame, target: np.ndarray) -> float:
    return -float(np.sqrt(np.mean((model.predict(frame) - target) ** 2)))


def permutation_importance(
    predict: Predict, batch: RawBatch, target: np.ndarray, *, seed: int
) -> dict[str, Any]:
    """Each raw column's importance: the RMSE increase when it is shuffled, its mean and
    standard deviation over ``REPEATS`` shuffles, largest first."""
    from sklearn.inspection import permutation_importance as sklearn_permutation_importance

    rows = len(target)
    chosen = np.arange(rows)
    if rows > MAX_ROWS:
        chosen = np.sort(np.random.default_rng(seed).choice(rows, MAX_ROWS, replace=False))
    frame = pd.DataFrame(
        {
            name: np.asarray(batch[name], dtype=np.float64)[chosen]
            if name in NUMERIC
            else pd.Series(batch[name], dtype=object).iloc[chosen].to_numpy()
            for name in FEATURES
        }
    )
    result = sklearn_permutation_importance(
        _RawRows(predict),
        frame,
        np.asarray(target, dtype=np.float64)[chosen],
        scoring=_negative_rmse,
        n_repeats=REPEATS,
        random_state=seed,
    )
    columns = [
        {
            "column": name,
            "rmse_increase_mean": float(mean),
            "rmse_increase_std": float(std),
            "repeats": [float(value) for value in repeats],
        }
        for name, mean, std, repeats in zip(
            FEATURES,
            result.importances_mean,
            result.importances_std,
            result.importances,
            strict=True,
        )
    ]
    columns.sort(key=lambda column: -column["rmse_increase_mean"])
    return {
        "method": "sklearn.inspection.permutation_importance on the exported model "
        "(featurizer + ONNX forest) over the raw columns; score: RMSE",
        "rows": len(chosen),
        "repeats": REPEATS,
        "columns": columns,
    }
