"""Scoring raw rows with a saved model: the featurizer's JSON and the ONNX forest.

This is the only code that serving and batch prediction run on a model; it imports no
scikit-learn and loads no pickle. One ONNX Runtime thread per process: a server scales
by worker processes, and threads inside each would only fight over the same cores.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from bigmart.artifact import ArtifactError, ModelArtifact, read_model
from bigmart.features import FEATURE_NAMES_OUT, Featurizer
from bigmart.schema import RawBatch


class Predictor:
    """A loaded, verified model that turns a ``RawBatch`` into sales predictions."""

    def __init__(self, artifact: ModelArtifact, *, threads: int = 1) -> None:
        import onnxruntime

        try:
            self.featurizer = Featurizer.from_json(artifact.featurizer)
        except (ValueError, TypeError, KeyError) as error:
            raise ArtifactError(f"featurizer.json: {error}") from None
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
        self._input_name = inputs[0].name
        self.metadata: dict[str, Any] = artifact.metadata

    @classmethod
    def load(cls, model_dir: str | os.PathLike[str], *, threads: int = 1) -> Predictor:
        """Read, verify and load a model folder."""
        return cls(read_model(Path(model_dir)), threads=threads)

    def predict(self, batch: RawBatch) -> np.ndarray:
        """Predicted sales, float32, one per row, in order."""
        return self.predict_matrix(self.featurizer.transform(batch))

    def predict_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """Predictions for an already featurized float32 matrix."""
        if len(matrix) == 0:
            return np.empty(0, dtype=np.float32)
        (output,) = self._session.run(None, {self._input_name: matrix})
        return output.reshape(-1)


def format_predictions(predictions: np.ndarray) -> list[str]:
    """Predictions as text: the shortest decimal that reads back as the same float32.

    Both ``bigmart predict`` and the endpoint format through this, so their outputs are
    equal byte for byte.
    """
    return [str(value) for value in predictions.astype(np.float32)]
