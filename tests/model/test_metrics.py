"""The metric lines ``train`` prints and the MetricDefinitions regexes SageMaker reads them with."""

from __future__ import annotations

import re

import pytest

from bigmart.model.metrics import METRIC_DEFINITIONS, format_metric

SAMPLE_LOG = """\
read 8523 training rows from 1 file(s)
train:rmse=1049.7759
validation:rmse=1089.1035
validation:mae=768.0904
validation:r2=0.5947
cv:rmse_mean=1080.4963
cv:rmse_std=20.2486
wrote the model to /opt/ml/model
"""
SAMPLE_VALUES = {
    "train:rmse": 1049.7759,
    "validation:rmse": 1089.1035,
    "validation:mae": 768.0904,
    "validation:r2": 0.5947,
    "cv:rmse_mean": 1080.4963,
    "cv:rmse_std": 20.2486,
}


def test_metric_regexes_find_every_metric_train_prints() -> None:
    names = [definition["Name"] for definition in METRIC_DEFINITIONS]
    assert sorted(names) == sorted(SAMPLE_VALUES)
    for definition in METRIC_DEFINITIONS:
        # SageMaker takes the first capture group of each match in the log.
        found = re.findall(definition["Regex"], SAMPLE_LOG)
        assert [float(value) for value in found] == [SAMPLE_VALUES[definition["Name"]]]


@pytest.mark.parametrize("value", [1089.10351, 0.0, -0.25, 20.2486, 123456.789, 1e-7])
def test_metric_regexes_match_format_metric(value: float) -> None:
    for definition in METRIC_DEFINITIONS:
        line = format_metric(definition["Name"], value)
        match = re.search(definition["Regex"], f"some prefix {line}\n")
        assert match is not None, (definition, line)
        assert float(match.group(1)) == pytest.approx(value, abs=1e-4)
