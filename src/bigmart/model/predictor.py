"""Scoring raw rows with a saved model: the featurizer's JSON and the ONNX forest.

This is the only code that serving and batch prediction run on a model; it imports no
scikit-learn and loads no pickle. One ONNX Runtime thread per process: a server scales
by worker processes, and threads inside each would only fight over the same cores.

A model checks itself when it loads: it scores the probe rows training stored in
metadata.json and must give back the predictions training saw (a model from before the
probe scores ``TYPICAL_ROW`` and must give one finite number). Files whose checksums were
recomputed after an edit therefore fail at load, before a server answers ``/ping``, rather
than on every request.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bigmart.clipping import one_line
from bigmart.model.artifact import ArtifactError, ModelArtifact, read_model
from bigmart.model.features import FEATURE_NAMES_OUT, Featurizer
from bigmart.model.row_order import columns_of, order_of
from bigmart.schema import FEATURES, RawBatch, columns_from_records

#: The metadata key training writes the probe under: ``{"rows": [record, ...],
#: "predictions": [float, ...]}``, raw rows as JSON records (null = missing).
PROBE_KEY = "probe"
#: How far a probe prediction may drift from training's: both are ONNX Runtime in float32,
#: so only another ORT version's summation order moves them (far less than this).
PROBE_ABSOLUTE_TOLERANCE = 0.01
PROBE_RELATIVE_TOLERANCE = 1e-4
#: A plain Big Mart row, scored by models that predate the probe.
TYPICAL_ROW: dict[str, Any] = {
    "Item_Identifier": "FDW58",
    "Item_Weight": 20.75,
    "Item_Fat_Content": "Low Fat",
    "Item_Visibility": 0.007564836,
    "Item_Type": "Snack Foods",
    "Item_MRP": 107.8622,
    "Outlet_Identifier": "OUT049",
    "Outlet_Establishment_Year": 1999,
    "Outlet_Size": "Medium",
    "Outlet_Location_Type": "Tier 1",
    "Outlet_Type": "Supermarket Type1",
}


class Predictor:
    """A loaded, verified model that turns a ``RawBatch`` into sales predictions."""

    def __init__(self, artifact: ModelArtifact, *, threads: int = 1) -> None:
        import onnxruntime

        try:
            self.featurizer = Featurizer.from_json(artifact.featurizer)
        except Exception as error:  # a damaged document fails in any way
            raise ArtifactError(f"featurizer.json: {one_line(str(error), 300)}") from None
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        try:
            self._session = onnxruntime.InferenceSession(
                artifact.onnx, options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # ORT raises its own exception types
            raise ArtifactError(f"model.onnx: ONNX Runtime cannot load it ({error})") from None
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or inputs[0].shape[-1] != len(FEATURE_NAMES_OUT):
            raise ArtifactError(
                f"model.onnx: expected one input of {len(FEATURE_NAMES_OUT)} features, "
                f"got {[(i.name, i.shape) for i in inputs]}"
            )
        outputs = self._session.get_outputs()
        if len(outputs) != 1:
            raise ArtifactError(
                f"model.onnx: expected one output (the predictions), got "
                f"{[o.name for o in outputs]}"
            )
        self._input_name = inputs[0].name
        try:
            self._sort_columns = columns_of(artifact.metadata)
        except ValueError as error:
            raise ArtifactError(f"metadata.json: {error}") from None
        self.metadata: dict[str, Any] = artifact.metadata
        self._check_itself()

    @classmethod
    def load(cls, model_dir: str | os.PathLike[str], *, threads: int = 1) -> Predictor:
        """Read, verify and load a model folder."""
        return cls(read_model(Path(model_dir)), threads=threads)

    def predict(self, batch: RawBatch) -> np.ndarray:
        """Predicted sales, float32, one per row, in order."""
        return self.predict_matrix(self.featurizer.transform(batch))

    def predict_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """Predictions for an already featurized float32 matrix, in its row order.

        A batch is scored in the order metadata.json's ``row_order`` gives (see
        ``bigmart.model.row_order``): the same numbers in about half the time, answered in
        the order the rows came.
        """
        if len(matrix) == 0:
            return np.empty(0, dtype=np.float32)
        order = order_of(matrix, self._sort_columns)
        if order is None:
            (output,) = self._session.run(None, {self._input_name: matrix})
            return output.reshape(-1)
        (output,) = self._session.run(None, {self._input_name: matrix[order]})
        predictions = np.empty(len(matrix), dtype=output.dtype)
        predictions[order] = output.reshape(-1)
        return predictions

    def _check_itself(self) -> None:
        """Score the probe rows (or ``TYPICAL_ROW``); ``ArtifactError`` if the answer is
        not what training saw (or not one finite number per row)."""
        records, expected = probe_of(self.metadata)
        try:
            batch = columns_from_records(records)
            matrix = self.featurizer.transform(batch)
        except Exception as error:  # a damaged featurizer fails in any way
            raise ArtifactError(
                f"featurizer.json: self-check failed: transforming a known row raised "
                f"{type(error).__name__}: {one_line(str(error), 300)}"
            ) from None
        try:
            (output,) = self._session.run(None, {self._input_name: matrix})
        except Exception as error:  # ORT raises its own exception types
            raise ArtifactError(
                f"model.onnx: self-check failed: ONNX Runtime cannot score a known row "
                f"({one_line(str(error), 300)})"
            ) from None
        output = np.asarray(output)
        if output.dtype.kind != "f" or output.size != len(records):
            raise ArtifactError(
                f"model.onnx: self-check failed: {len(records)} row(s) gave output "
                f"{output.dtype}{list(output.shape)}; expected one number per row"
            )
        got = output.reshape(-1).astype(np.float64)
        for index, value in enumerate(got):
            if not math.isfinite(value):
                raise ArtifactError(
                    f"model.onnx: self-check failed: a known row scored {value}; "
                    "expected a finite number"
                )
            if expected is None:
                continue
            tolerance = PROBE_ABSOLUTE_TOLERANCE + PROBE_RELATIVE_TOLERANCE * abs(expected[index])
            if abs(value - expected[index]) > tolerance:
                raise ArtifactError(
                    f"model.onnx / featurizer.json: self-check failed: probe row {index} of "
                    f"metadata.json scored {value:.6g}, but {expected[index]:.6g} at training; "
                    "the model files were changed after training (retrain or restore them)"
                )


def probe_of(metadata: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[float] | None]:
    """The probe rows and their expected predictions from metadata.json, or
    ``TYPICAL_ROW`` and None for a model trained before probes existed."""
    probe = metadata.get(PROBE_KEY)
    if probe is None:
        return [dict(TYPICAL_ROW)], None
    rows = probe.get("rows") if isinstance(probe, dict) else None
    predictions = probe.get("predictions") if isinstance(probe, dict) else None
    if (
        not isinstance(rows, list)
        or not rows
        or not all(isinstance(row, dict) for row in rows)
        or not isinstance(predictions, list)
        or len(predictions) != len(rows)
        or not all(
            isinstance(p, (int, float)) and not isinstance(p, bool) and math.isfinite(p)
            for p in predictions
        )
    ):
        raise ArtifactError(
            f"metadata.json: {PROBE_KEY!r} must be {{'rows': [record, ...], "
            "'predictions': [number, ...]}} with one finite prediction per row"
        )
    return rows, [float(p) for p in predictions]


def probe_rows(batch: RawBatch, limit: int = 16) -> list[dict[str, Any]]:
    """A few raw rows of ``batch`` as JSON records, for training to store as the probe:
    the first row of each outlet (outlets decide most features), at most ``limit``."""
    outlets = batch["Outlet_Identifier"]
    chosen: dict[Any, int] = {}
    for index, outlet in enumerate(outlets):
        if outlet not in chosen:
            chosen[outlet] = index
            if len(chosen) == limit:
                break
    return [_record(batch, index) for index in chosen.values()]


def _record(batch: RawBatch, index: int) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for name in FEATURES:
        value = batch[name][index]
        if isinstance(value, (float, np.floating)):
            record[name] = None if math.isnan(value) else float(value)
        else:
            record[name] = value
    return record
