"""One training run: read, fit, evaluate, export, verify, write the artifact.

Knows nothing of SageMaker's paths: the container's ``train`` and the tests call
``run_training`` with plain folders.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bigmart.data.reading import LabelledData, read_labelled
from bigmart.model import forest as forest_model
from bigmart.model.artifact import ModelArtifact, write_model
from bigmart.model.hyperparameters import HyperParameters
from bigmart.model.metrics import METRIC_NAMES, format_metric, json_metrics
from bigmart.model.predictor import PROBE_KEY, Predictor, probe_rows
from bigmart.model.report_data import TrainingEvidence
from bigmart.model.row_order import METADATA_KEY as ROW_ORDER_KEY
from bigmart.model.row_order import sort_keys
from bigmart.schema import columns_from_records

Log = Callable[[str], None]


@dataclass
class TrainingResult:
    """What a run produced: metrics by name, row counts and the artifact's metadata."""

    metrics: dict[str, float]
    metadata: dict[str, Any] = field(default_factory=dict)


def run_training(
    training: str | os.PathLike[str],
    model_dir: str | os.PathLike[str],
    *,
    hyperparameters: HyperParameters,
    validation: str | os.PathLike[str] | None = None,
    training_gzipped: bool | None = None,
    validation_gzipped: bool | None = None,
    output_data_dir: str | os.PathLike[str] | None = None,
    job_name: str | None = None,
    log: Log = print,
) -> TrainingResult:
    """Train on the CSVs at ``training`` and write the model into ``model_dir``.

    Metrics describe the model that is shipped: with a validation channel the forest is
    trained on all training rows and scored on the channel; otherwise it is trained on
    ``1 - validation_fraction`` of the rows and scored on the rest (0 scores nothing).
    ``*_gzipped`` None judges each file by its ``.gz`` suffix (a Pipe-mode FIFO has none).
    ``output_data_dir`` receives metrics.json and the training report (report.html, .json).
    """
    hp = hyperparameters
    started = time.perf_counter()
    data = read_labelled(training, gzipped=training_gzipped)
    log(f"read {len(data)} training rows from {len(data.files)} file(s)")
    holdout: LabelledData | None = None
    if validation is not None:
        holdout = read_labelled(validation, gzipped=validation_gzipped)
        log(f"read {len(holdout)} validation rows from {len(holdout.files)} file(s)")
    elif hp.validation_fraction > 0:
        data, holdout = forest_model.split_holdout(data, hp.validation_fraction, hp.random_state)
        log(f"held out {len(holdout)} rows ({hp.validation_fraction:.0%}) for validation")
    if len(data) < 2:
        raise ValueError(f"too few training rows ({len(data)}); need at least 2")

    metrics: dict[str, float] = {}
    if hp.cv_folds:
        if len(data) < hp.cv_folds:
            raise ValueError(f"cv_folds={hp.cv_folds} needs at least that many rows")
        folds = forest_model.cross_validate(data, hp)
        rmses = np.array([fold.rmse for fold in folds])
        metrics["cv:rmse_mean"] = float(rmses.mean())
        metrics["cv:rmse_std"] = float(rmses.std())

    fitted = forest_model.fit(data.features, data.target, hp)
    fit_seconds = time.perf_counter() - started
    metrics["train:rmse"] = forest_model.evaluate(fitted, data.features, data.target).rmse
    if holdout is not None:
        scores = forest_model.evaluate(fitted, holdout.features, holdout.target)
        metrics.update({f"validation:{k}": v for k, v in scores.as_dict().items()})
    for name in METRIC_NAMES:
        if name in metrics:
            log(format_metric(name, metrics[name]))

    onnx_bytes = forest_model.to_onnx_bytes(fitted)
    featurizer_state = fitted.featurizer.to_json()
    evidence = TrainingEvidence.gather(fitted, data, holdout, onnx_bytes, featurizer_state)
    reported = json_metrics(metrics)  # null, not NaN, for an undefined metric
    metadata = {
        "hyperparameters": hp.as_strings(),
        "metrics": reported,
        "rows": {"training": len(data), "validation": len(holdout) if holdout else 0},
        "training_files": data.files,
        "feature_names": list(fitted.featurizer.feature_names_out_),
        "versions": library_versions(),
        "training_seconds": round(fit_seconds, 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        PROBE_KEY: probe(evidence.exported, data),
        ROW_ORDER_KEY: sort_keys(fitted.forest),
    }
    write_model(
        ModelArtifact(
            onnx=onnx_bytes,
            featurizer=featurizer_state,
            metadata=metadata,
            baseline=evidence.baseline(),
        ),
        model_dir,
    )
    if output_data_dir is not None:
        out = Path(output_data_dir)
        out.mkdir(parents=True, exist_ok=True)
        document = json.dumps(reported, indent=1, sort_keys=True, allow_nan=False)
        (out / "metrics.json").write_text(document + "\n")
        started = time.perf_counter()
        report = evidence.write_report(out, hp, reported, metadata, job_name=job_name)
        log(f"training report written to {report} ({time.perf_counter() - started:.1f} s)")
    log(f"model built ({len(onnx_bytes) / 1e6:.1f} MB ONNX)")
    return TrainingResult(metrics=metrics, metadata=metadata)


def probe(predictor: Predictor, data: LabelledData) -> dict[str, Any]:
    """A few training rows and what the exported model (``predictor``) predicts for them, so
    that every later load can check the files still give the same answers (``Predictor``)."""
    rows = probe_rows(data.features)
    predictions = predictor.predict(columns_from_records(rows))
    return {"rows": rows, "predictions": [float(value) for value in predictions]}


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape the model, for the metadata."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for package in ("bigmart", "scikit-learn", "numpy", "skl2onnx", "onnx", "onnxruntime"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "unknown"
    return versions
