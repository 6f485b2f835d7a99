"""Training the forest, scoring it, and exporting it to ONNX.

The featurizer is part of the model: every fit (the final one and each CV fold) fits a
fresh featurizer on its own training rows only, so no statistic of the rows it is scored on
leaks into it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import RandomForestRegressor
from sklearn.model_selection import KFold, train_test_split

from bigmart.data.reading import LabelledData
from bigmart.model.features import FEATURE_NAMES_OUT, Featurizer
from bigmart.model.hyperparameters import HyperParameters
from bigmart.schema import FEATURES, RawBatch

#: ONNX opsets the export targets: ai.onnx.ml 3 holds tree ensembles ONNX Runtime runs fast.
ONNX_OPSETS = {"": 17, "ai.onnx.ml": 3}


@dataclass
class FittedModel:
    """A featurizer and the forest trained on its output."""

    featurizer: Featurizer
    forest: RandomForestRegressor

    def predict(self, batch: RawBatch) -> np.ndarray:
        """scikit-learn's predictions (float64), for evaluation and parity checks."""
        return self.forest.predict(self.featurizer.transform(batch))


@dataclass
class Evaluation:
    """Regression scores of one model on one set of rows."""

    rmse: float
    mae: float
    r2: float
    rows: int

    def as_dict(self) -> dict[str, float]:
        return {"rmse": self.rmse, "mae": self.mae, "r2": self.r2}


def fit(batch: RawBatch, target: np.ndarray, hp: HyperParameters) -> FittedModel:
    """Fit the featurizer, then the forest, on the same rows."""
    featurizer = Featurizer()
    matrix = featurizer.fit_transform(batch, target)
    forest = RandomForestRegressor(**hp.forest_params())
    forest.fit(matrix, target)
    return FittedModel(featurizer, forest)


def evaluate(model: FittedModel, batch: RawBatch, target: np.ndarray) -> Evaluation:
    """RMSE, MAE and R² of ``model`` on the given rows."""
    predicted = model.predict(batch)
    return score(target, predicted)


def score(target: np.ndarray, predicted: np.ndarray) -> Evaluation:
    """RMSE, MAE and R² of predictions against the truth."""
    errors = predicted - target
    rmse = math.sqrt(float(np.mean(errors**2)))
    mae = float(np.mean(np.abs(errors)))
    spread = float(np.sum((target - target.mean()) ** 2))
    r2 = 1.0 - float(np.sum(errors**2)) / spread if spread > 0 else math.nan
    return Evaluation(rmse=rmse, mae=mae, r2=r2, rows=len(target))


def split_holdout(
    data: LabelledData, fraction: float, seed: int
) -> tuple[LabelledData, LabelledData]:
    """A seeded random split of rows into training and hold-out parts."""
    indices = np.arange(len(data))
    train_idx, test_idx = train_test_split(indices, test_size=fraction, random_state=seed)
    return take(data, np.sort(train_idx)), take(data, np.sort(test_idx))


def cross_validate(data: LabelledData, hp: HyperParameters) -> list[Evaluation]:
    """K-fold CV (shuffled, seeded by ``random_state``), one featurizer and forest per fold."""
    folds = KFold(n_splits=hp.cv_folds, shuffle=True, random_state=hp.random_state)
    results = []
    for train_idx, test_idx in folds.split(np.arange(len(data))):
        train, test = take(data, train_idx), take(data, test_idx)
        results.append(evaluate(fit(train.features, train.target, hp), test.features, test.target))
    return results


def take(data: LabelledData, indices: np.ndarray) -> LabelledData:
    """The rows of ``data`` at ``indices``, in that order."""
    features: RawBatch = {}
    for name in FEATURES:
        column = data.features[name]
        if isinstance(column, np.ndarray):
            features[name] = column[indices]
        else:
            features[name] = [column[i] for i in indices]
    return LabelledData(features=features, target=data.target[indices], files=data.files)


def to_onnx_bytes(forest: RandomForestRegressor) -> bytes:
    """The forest as an ONNX model taking ``input`` float32 [N, features], giving
    ``variable`` float32 [N, 1]."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    onnx_model = convert_sklearn(
        forest,
        initial_types=[("input", FloatTensorType([None, len(FEATURE_NAMES_OUT)]))],
        target_opset=ONNX_OPSETS,
    )
    return onnx_model.SerializeToString()
