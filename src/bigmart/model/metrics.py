"""The metric lines ``train`` prints, and the regexes SageMaker's MetricDefinitions use.

A module of its own, free of heavy imports, so that the AWS launch code can send the
definitions without loading scikit-learn.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

#: The metric lines ``train`` prints, as SageMaker MetricDefinitions. Each regex captures
#: the number of a line like ``validation:rmse=1071.2345``.
NUMBER = r"(-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)"
METRIC_NAMES = (
    "train:rmse",
    "validation:rmse",
    "validation:mae",
    "validation:r2",
    "cv:rmse_mean",
    "cv:rmse_std",
)
METRIC_DEFINITIONS: list[dict[str, str]] = [
    {"Name": name, "Regex": f"{name}={NUMBER}"} for name in METRIC_NAMES
]


def format_metric(name: str, value: float) -> str:
    """One metric line, in the stable form the METRIC_DEFINITIONS regexes match.

    A value that is not a finite number (R² of a one-row validation set is NaN) gets a line
    without ``name=``, so that no regex, ours or a user's, reads a number from it.
    """
    if not math.isfinite(value):
        return f"{name} is undefined ({value}) and not reported"
    return f"{name}={value:.4f}"


def json_metrics(metrics: Mapping[str, float]) -> dict[str, float | None]:
    """Metrics for a JSON file: null for a value that is not finite, since NaN is not
    JSON and strict parsers refuse it."""
    return {name: value if math.isfinite(value) else None for name, value in metrics.items()}
