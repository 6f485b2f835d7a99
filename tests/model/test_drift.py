"""The drift statistics: PSI over the baseline's bins, with the documented epsilon, pooled
categories, unseen labels and missing values counted apart, streamed batch by batch."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from bigmart.data.reading import read_labelled
from bigmart.model import drift
from bigmart.model.baseline import profile
from bigmart.model.drift import EPSILON, PSI_THRESHOLD, BaselineError, DriftTally, bin_labels, psi
from bigmart.schema import FEATURES


@pytest.fixture(scope="module")
def real(real_train_csv: Path) -> tuple[dict, dict, np.ndarray]:
    """The real training rows' baseline (their sales standing in for the predictions),
    those rows as one batch, and their sales."""
    data = read_labelled(real_train_csv)
    sales = np.asarray(data.target, dtype=np.float64)
    return profile(data.features, sales, predictions_from="validation"), data.features, sales


def part(batch: dict, rows: slice) -> dict:
    return {name: batch[name][rows] for name in FEATURES}


def test_psi_is_zero_for_the_same_shares_and_symmetric():
    assert psi([10, 20, 30], [1, 2, 3]) == pytest.approx(0.0)
    assert psi([10, 20, 30], [30, 20, 10]) == pytest.approx(psi([30, 20, 10], [10, 20, 30]))
    assert psi([0, 0], [1, 2]) is None and psi([1, 2], [0, 0]) is None


def test_an_empty_bin_counts_as_epsilon():
    # a 10% training bin that receives nothing: (1e-4 - 0.1) * ln(1e-4 / 0.1) = 0.69
    expected = [10, 90]
    actual = [0, 100]
    term_empty = (EPSILON - 0.1) * math.log(EPSILON / 0.1)
    term_full = (1.0 - 0.9) * math.log(1.0 / 0.9)
    assert psi(expected, actual) == pytest.approx(term_empty + term_full)
    assert term_empty == pytest.approx(0.69, abs=0.01)


def test_bin_labels_name_the_open_outer_bins():
    assert bin_labels([0.0, 1.0, 2.0, 3.0]) == ["< 1", "1\u20132", "\u2265 2"]
    assert bin_labels([5.0, 5.0]) == ["5\u20135"]
    assert bin_labels([]) == []


def test_the_training_rows_themselves_do_not_drift(real):
    baseline, batch, _ = real
    tally = DriftTally(baseline)
    for start in range(0, 8523, 1000):  # streamed in batches: the counts add up
        tally.add_rows(part(batch, slice(start, start + 1000)))
    document = tally.document()
    assert document["rows"] == 8523
    assert document["drifted"] == []
    for name, feature in document["features"].items():
        assert feature["psi"] == pytest.approx(0.0, abs=1e-9), name
        assert feature["rows"] == 8523
        assert sum(feature["bins"]["captured"]) == 8523
        assert feature["bins"]["captured"] == feature["bins"]["baseline"], name
    json.dumps(document, allow_nan=False)


def test_a_tripled_price_drifts_and_only_it(real):
    baseline, batch, _ = real
    shifted = dict(part(batch, slice(0, 3000)))
    shifted["Item_MRP"] = shifted["Item_MRP"] * 3
    tally = DriftTally(baseline)
    tally.add_rows(shifted)
    document = tally.document()
    assert document["drifted"] == ["Item_MRP"]
    assert next(iter(document["features"])) == "Item_MRP"  # the most drifted first
    mrp = document["features"]["Item_MRP"]
    assert mrp["psi"] > 1.0 and mrp["drift"] is True
    # values above the training range land in the open last bin
    assert mrp["bins"]["captured"][-2] > 0.7 * 3000
    assert mrp["range"]["captured"][1] > 3 * 260 and mrp["range"]["baseline"][1] < 270
    others = [f for name, f in document["features"].items() if name != "Item_MRP"]
    assert all(f["psi"] < PSI_THRESHOLD and f["drift"] is False for f in others)


def test_missing_values_have_a_bin_so_a_column_no_longer_sent_drifts(real):
    baseline, batch, _ = real
    rows = part(batch, slice(0, 2000))
    rows["Item_Visibility"] = np.full(2000, np.nan)
    rows["Outlet_Type"] = [None] * 2000
    tally = DriftTally(baseline)
    tally.add_rows(rows)
    document = tally.document()
    assert set(document["drifted"]) == {"Item_Visibility", "Outlet_Type"}
    visibility = document["features"]["Item_Visibility"]
    assert visibility["missing_rate"] == {"baseline": 0.0, "captured": 1.0, "change": 1.0}
    assert visibility["bins"]["labels"][-1] == drift.MISSING
    assert visibility["range"]["captured"] is None


def test_categories_rare_in_training_share_a_bin_and_unseen_ones_are_counted(real):
    baseline, batch, _ = real
    tally = DriftTally(baseline)
    labels = tally.columns["Item_Type"].labels
    assert "Seafood" not in labels  # 64 of 8,523 rows: under 1%, pooled
    assert labels[-3:] == [drift.RARE, drift.UNSEEN, drift.MISSING]
    identifiers = tally.columns["Item_Identifier"].labels
    assert identifiers == [drift.RARE, drift.UNSEEN, drift.MISSING]  # no id holds 1%
    rows = part(batch, slice(0, 1000))
    rows["Item_Type"] = ["Seafood"] * 500 + ["Hover boards"] * 300 + list(rows["Item_Type"][800:])
    tally.add_rows(rows)
    item_type = tally.document()["features"]["Item_Type"]
    counts = dict(zip(item_type["bins"]["labels"], item_type["bins"]["captured"], strict=True))
    assert counts[drift.RARE] >= 500 and counts[drift.UNSEEN] == 300
    assert item_type["unseen"]["rows"] == 300 and item_type["unseen"]["rate"] == 0.3
    assert item_type["unseen"]["examples"] == {"Hover boards": 300}
    assert item_type["drift"] is True


def test_unseen_labels_are_tracked_up_to_a_bound(real, monkeypatch):
    baseline, batch, _ = real
    monkeypatch.setattr(drift, "MAX_UNSEEN_LABELS", 5)
    tally = DriftTally(baseline)
    rows = part(batch, slice(0, 100))
    rows["Item_Identifier"] = [f"NEW{i}" for i in range(100)]
    tally.add_rows(rows)
    unseen = tally.document()["features"]["Item_Identifier"]["unseen"]
    assert unseen["rows"] == 100
    assert len(tally.columns["Item_Identifier"].unseen) == 5
    assert unseen["distinct_is_lower_bound"] is True and len(unseen["examples"]) == 5


def test_predictions_are_compared_with_the_baseline_predictions(real):
    baseline, _, sales = real
    same, doubled = DriftTally(baseline), DriftTally(baseline)
    same.add_predictions(sales[:4000])
    same.add_predictions(sales[4000:])
    doubled.add_predictions(sales * 2)
    assert same.document()["predictions"]["psi"] == pytest.approx(0.0, abs=1e-9)
    assert same.document()["predictions"]["rows"] == 8523
    moved = doubled.document()["predictions"]
    assert moved["drift"] is True and moved["from"] == "validation"
    assert moved["range"]["captured"][1] == pytest.approx(2 * sales.max())


def test_only_answers_give_no_feature_verdict(real):
    baseline, _, _ = real
    tally = DriftTally(baseline)
    tally.add_predictions(np.array([1000.0, 2000.0]))
    document = tally.document()
    assert document["rows"] == 0 and document["few_rows"] is True
    assert all(f["psi"] is None and f["drift"] is None for f in document["features"].values())


def test_another_baseline_format_is_refused(real):
    baseline, _, _ = real
    with pytest.raises(BaselineError, match="bigmart-baseline/2"):
        DriftTally({**baseline, "format": "bigmart-baseline/2"})
