"""Training the forest, scoring it, and exporting it to ONNX.

The featurizer is part of the model: every fit (the final one and each CV fold) fits a
fresh featurizer on its own training rows only, so no statistic of the rows it is scored on
leaks into it.

With ``target=sales_per_mrp`` the forest learns units sold per unit of price
(``Item_Outlet_Sales / Item_MRP``) with sample weights ``Item_MRP²``, so its squared error
is the squared error in sales; the multiplication back by ``Item_MRP`` is part of the ONNX
graph, so the exported model still takes the feature matrix and gives sales.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.ensemble import RandomForestRegressor
from sklearn.model_selection import KFold, train_test_split

from bigmart.data.reading import LabelledData
from bigmart.model.features import FEATURE_NAMES_OUT, Featurizer
from bigmart.model.hyperparameters import HyperParameters
from bigmart.schema import FEATURES, RawBatch

#: ONNX opsets the export targets: ai.onnx.ml 3 holds tree ensembles ONNX Runtime runs fast.
ONNX_OPSETS = {"": 17, "ai.onnx.ml": 3}
#: The feature matrix column holding Item_MRP as given (a missing price gets the fitted
#: median), which ``sales_per_mrp`` models multiply their prediction by.
MRP_COLUMN = FEATURE_NAMES_OUT.index("Item_MRP")


@dataclass
class FittedModel:
    """A featurizer and the forest trained on its output; ``target`` says what the forest
    predicts (``sales``, or ``sales_per_mrp`` to be multiplied by the MRP column)."""

    featurizer: Featurizer
    forest: RandomForestRegressor
    target: str = "sales"

    def predict(self, batch: RawBatch) -> np.ndarray:
        """scikit-learn's predicted sales (float64), for evaluation and parity checks."""
        matrix = self.featurizer.transform(batch)
        predicted = self.forest.predict(matrix)
        if self.target == "sales_per_mrp":
            predicted = predicted * matrix[:, MRP_COLUMN].astype(np.float64)
        return predicted


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
    if hp.target == "sales_per_mrp":
        forest.fit(matrix, *per_mrp(target, matrix[:, MRP_COLUMN]))
    else:
        forest.fit(matrix, target)
    return FittedModel(featurizer, forest, hp.target)


def per_mrp(sales: np.ndarray, mrp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sales per unit of MRP and the weights (MRP², scaled to mean 1) that make the forest's
    squared error the squared error in sales. Scaling changes no split, but scikit-learn
    1.9 reads a fractional ``max_samples`` relative to the weights' sum, so raw MRP²
    (~20,000 a row) would draw millions of rows per tree. A row priced 0 says nothing
    about units sold, so it gets weight 0 (and any finite ratio)."""
    mrp = mrp.astype(np.float64)
    priced = mrp != 0
    if not priced.any():
        raise ValueError(
            "Item_MRP is 0 in every training row; target=sales_per_mrp needs prices "
            "(use target=sales)"
        )
    ratio = np.divide(sales, mrp, out=np.zeros_like(mrp), where=priced)
    weight = mrp**2
    return ratio, weight / weight.mean()


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


def to_onnx_bytes(model: FittedModel) -> bytes:
    """The forest as an ONNX model taking ``input`` float32 [N, features], giving
    ``variable`` float32 [N, 1]: predicted sales, whatever the forest's target."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    onnx_model = convert_sklearn(
        model.forest,
        initial_types=[("input", FloatTensorType([None, len(FEATURE_NAMES_OUT)]))],
        target_opset=ONNX_OPSETS,
    )
    if model.target == "sales_per_mrp":
        _multiply_by_mrp(onnx_model.graph)
    return onnx_model.SerializeToString()


def _multiply_by_mrp(graph: Any) -> None:
    """Append ``output = forest output * input[:, MRP_COLUMN]`` to an exported graph,
    keeping its input and output names and shapes."""
    from onnx import helper, numpy_helper

    (inputs,), (output,) = graph.input, graph.output
    per_mrp_name = f"{output.name}_per_mrp"
    for node in graph.node:
        node.output[:] = [per_mrp_name if name == output.name else name for name in node.output]
    column = np.array([MRP_COLUMN], dtype=np.int64)
    graph.initializer.append(numpy_helper.from_array(column, "mrp_column"))
    graph.node.extend(
        [
            helper.make_node(
                "Gather", [inputs.name, "mrp_column"], ["mrp"], axis=1, name="gather_mrp"
            ),
            helper.make_node("Mul", [per_mrp_name, "mrp"], [output.name], name="times_mrp"),
        ]
    )
