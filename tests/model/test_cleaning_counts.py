"""The cleaning counts agree with what ``Featurizer.transform`` actually did."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bigmart.data.reading import read_labelled
from bigmart.model.cleaning_counts import cleaning_counts, unseen_categories
from bigmart.model.features import FEATURE_NAMES_OUT, Featurizer
from bigmart.model.forest import split_holdout
from bigmart.schema import columns_from_records


@pytest.fixture(scope="module")
def fitted(real_train_csv: Path):
    data = read_labelled(real_train_csv)
    training, validation = split_holdout(data, 0.2, 0)
    return Featurizer().fit(training.features, training.target), training, validation


def test_every_fill_is_counted_at_the_source_transform_used(fitted):
    featurizer, training, _ = fitted
    batch = training.features
    counts = cleaning_counts(featurizer, batch)
    matrix = featurizer.transform(batch)
    weight = matrix[:, FEATURE_NAMES_OUT.index("Item_Weight")]
    missing = np.flatnonzero(np.isnan(batch["Item_Weight"]))
    known = featurizer.item_weight_
    from_item = [
        i
        for i in missing
        if batch["Item_Identifier"][i] in known
        and weight[i] == np.float32(known[batch["Item_Identifier"][i]])
    ]
    assert counts["Item_Weight"]["missing"] == len(missing) > 0
    assert counts["Item_Weight"]["from_item"] == len(from_item)
    assert sum(v for k, v in counts["Item_Weight"].items() if k.startswith("from_")) == len(missing)
    zero = int((batch["Item_Visibility"] == 0).sum())
    visibility = counts["Item_Visibility"]
    assert visibility["zero"] == zero > 0 and visibility["missing"] == 0
    assert visibility["from_item"] + visibility.get("from_item_type", 0) == zero
    size = counts["Outlet_Size"]
    assert size["missing"] == sum(label is None for label in batch["Outlet_Size"]) > 0
    # Big Mart's outlets without a size never have one: the type's commonest size fills them
    assert size == {"missing": size["missing"], "from_outlet_type": size["missing"]}
    cleaned = featurizer.cleaned_categories(batch)["Outlet_Size"]
    assert all(label is not None for label in cleaned)


def test_fat_content_respellings_and_non_edible_items_are_counted(fitted):
    featurizer, training, _ = fitted
    labels = training.features["Item_Fat_Content"]
    ids = training.features["Item_Identifier"]
    counts = cleaning_counts(featurizer, training.features)["Item_Fat_Content"]
    edible = [label for label, item in zip(labels, ids, strict=True) if not item.startswith("NC")]
    assert counts["spellings"] == {
        spelling: edible.count(spelling) for spelling in ("LF", "low fat", "reg")
    }
    assert counts["respelled"] == sum(counts["spellings"].values())
    assert counts["non_edible"] == sum(item.startswith("NC") for item in ids)


def test_unseen_categories_are_found_by_column(fitted):
    featurizer, _, _ = fitted
    rows = [
        {"Item_Identifier": "ZZ999", "Outlet_Identifier": "OUT999", "Item_Type": "Snacks",
         "Item_Fat_Content": "Low Fat", "Outlet_Type": "Supermarket Type1", "Item_MRP": 100.0},
        {"Item_Identifier": "FDA15", "Outlet_Identifier": "OUT999", "Item_Type": "Dairy",
         "Item_Fat_Content": "Low Fat", "Outlet_Type": "Supermarket Type1", "Item_MRP": 100.0},
    ]  # fmt: skip
    unseen = unseen_categories(featurizer, columns_from_records(rows))
    assert unseen["Outlet_Identifier"] == {"rows": 2, "labels": {"OUT999": 2}, "distinct": 1}
    assert unseen["Item_Identifier"]["labels"] == {"ZZ999": 1}
    assert unseen["Item_Type"]["labels"] == {"Snacks": 1}
    assert unseen["Item_Fat_Content"]["rows"] == 0
    assert unseen["Outlet_Size"]["rows"] == 0  # missing, and filled: not an unseen label
