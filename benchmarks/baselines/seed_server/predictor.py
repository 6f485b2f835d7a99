"""Seed serving baseline: AWS scikit_bring_your_own's ``predictor.py``, for the seed model.

Same pattern as the AWS example: a Flask app, the pickled model loaded lazily once per
process (so each gunicorn worker pays the load on its first request), ``GET /ping`` and
``POST /invocations`` parsing the body with ``pandas.read_csv`` on every request.

Accepted rows (``Content-Type: text/csv``, no header, no index, no target): exactly the
feature matrix ``seed_encode`` produces, i.e. 10 numeric columns in
``seed_recipe.FEATURE_COLUMNS`` order, label-encoded then standard-scaled with the
encoders fitted on the training data. Raw Big Mart rows are NOT accepted: the seed never
saves its encoders, so the server cannot encode them (SEED BEHAVIOUR). ``train_seed_model``
writes ready-made request files. The response is one prediction per line, as CSV.

The model directory is ``$SEED_MODEL_DIR`` (default ``/opt/ml/model``, as in AWS).
"""

from __future__ import annotations

import io
import os
import pickle
from typing import ClassVar

import flask
import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor

MODEL_FILE = "seed-random-forest.pkl"


def model_dir() -> str:
    """Where the pickled model lives; read at load time so tests can set the env var."""
    return os.environ.get("SEED_MODEL_DIR", "/opt/ml/model")


class ScoringService:
    """Holds the model for this process, loaded on first use (as in the AWS example)."""

    model: ClassVar[RandomForestRegressor | None] = None

    @classmethod
    def get_model(cls) -> RandomForestRegressor:
        """Unpickle the model once per process and keep it."""
        if cls.model is None:
            with open(os.path.join(model_dir(), MODEL_FILE), "rb") as inp:
                cls.model = pickle.load(inp)  # trusted: written by train_seed_model
        return cls.model

    @classmethod
    def predict(cls, features: pd.DataFrame) -> np.ndarray:
        """Predict sales for already-encoded feature rows."""
        return cls.get_model().predict(features.to_numpy(dtype=float))


app = flask.Flask(__name__)


@app.route("/ping", methods=["GET"])
def ping() -> flask.Response:
    """Healthy (200) when the model can be loaded, 404 otherwise (as in the AWS example)."""
    try:
        healthy = ScoringService.get_model() is not None
    except (OSError, pickle.UnpicklingError, EOFError):
        healthy = False
    return flask.Response(
        response="\n", status=200 if healthy else 404, mimetype="application/json"
    )


@app.route("/invocations", methods=["POST"])
def transformation() -> flask.Response:
    """Predict for a CSV batch of encoded feature rows; answer CSV, one value per line."""
    if flask.request.content_type != "text/csv":
        return flask.Response(
            response="This predictor only supports CSV data", status=415, mimetype="text/plain"
        )
    body = flask.request.data.decode("utf-8")
    data = pd.read_csv(io.StringIO(body), header=None)

    predictions = ScoringService.predict(data)

    out = io.StringIO()
    pd.DataFrame({"results": predictions}).to_csv(out, header=False, index=False)
    return flask.Response(response=out.getvalue(), status=200, mimetype="text/csv")
