"""baseline.json: the training rows' raw profile, on bins the drift report can reuse."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bigmart.data.reading import read_labelled
from bigmart.model.baseline import bin_edges, count_bins, profile
from bigmart.schema import CATEGORICAL, NUMERIC


def test_bins_are_closed_at_the_top_and_open_at_both_ends():
    edges = [0.0, 1.0, 2.0, 3.0]
    values = np.array([-5.0, 0.0, 0.5, 1.0, 2.999, 3.0, 99.0, np.nan])
    # [0,1) gets -5 (below the range), 0, 0.5; [1,2) gets 1; [2,3] gets 2.999, 3 and 99
    assert count_bins(values, edges) == [3, 1, 3]
    assert count_bins(np.array([np.nan]), edges) == [0, 0, 0]
    assert count_bins(np.array([1.0]), []) == []


def test_bin_edges_are_deciles_merged_when_values_repeat():
    assert bin_edges(np.arange(101, dtype=float)) == [float(v) for v in range(0, 101, 10)]
    assert bin_edges(np.array([7.0, 7.0, 7.0])) == [7.0, 7.0]
    years = np.array([1985.0] * 50 + [1999.0] * 30 + [2009.0] * 20)
    edges = bin_edges(years)
    assert edges == sorted(set(edges)) and edges[0] == 1985.0 and edges[-1] == 2009.0
    assert sum(count_bins(years, edges)) == 100


def test_the_real_data_profile_is_raw_and_complete(real_train_csv: Path):
    data = read_labelled(real_train_csv)
    predictions = np.linspace(100.0, 5000.0, 50)
    document = profile(data.features, predictions, predictions_from="validation")
    assert document["format"] == "bigmart-baseline/1" and document["rows"] == 8523
    assert set(document["numeric"]) == NUMERIC and set(document["categorical"]) == set(CATEGORICAL)
    weight = document["numeric"]["Item_Weight"]
    assert weight["missing"] == 1463 and weight["missing_rate"] == pytest.approx(1463 / 8523)
    assert sum(weight["histogram"]["counts"]) == 8523 - 1463
    mrp = document["numeric"]["Item_MRP"]
    assert len(mrp["histogram"]["edges"]) == 11 and len(mrp["histogram"]["counts"]) == 10
    assert mrp["quantiles"]["0"] == mrp["histogram"]["edges"][0]
    assert mrp["quantiles"]["1"] == mrp["histogram"]["edges"][-1]
    assert max(mrp["histogram"]["counts"]) - min(mrp["histogram"]["counts"]) < 0.02 * 8523
    # raw labels, as a client sends them: the spellings the cleaning merges are kept apart
    fat = document["categorical"]["Item_Fat_Content"]["counts"]
    assert {"Low Fat", "LF", "low fat", "Regular", "reg"} == set(fat)
    sizes = document["categorical"]["Outlet_Size"]
    assert sizes["missing"] == 2410 and "Non-Edible" not in fat
    assert sum(document["categorical"]["Item_Identifier"]["counts"].values()) == 8523
    assert document["predictions"]["from"] == "validation"
    assert sum(document["predictions"]["histogram"]["counts"]) == 50
    json.dumps(document, allow_nan=False)  # strict JSON


def test_a_tripled_price_lands_past_the_training_bins(real_train_csv: Path):
    """What the drift report will see: Item_MRP x3 piles into the open last bin."""
    data = read_labelled(real_train_csv)
    edges = profile(data.features, np.ones(3), predictions_from="training")["numeric"]["Item_MRP"][
        "histogram"
    ]["edges"]
    tripled = count_bins(data.features["Item_MRP"] * 3, edges)
    assert tripled[-1] > 0.8 * 8523
