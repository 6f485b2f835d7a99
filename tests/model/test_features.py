import json
import math

import numpy as np
import pytest

from bigmart.data.reading import read_labelled
from bigmart.model.features import (
    COLUMNAR_ROWS,
    FEATURE_NAMES_OUT,
    Featurizer,
    clean_fat_content,
    item_category,
)
from bigmart.schema import FEATURES, columns_from_records

COL = {name: i for i, name in enumerate(FEATURE_NAMES_OUT)}


def record(**changes):
    base = {
        "Item_Identifier": "FDA15",
        "Item_Weight": 9.3,
        "Item_Fat_Content": "Low Fat",
        "Item_Visibility": 0.02,
        "Item_Type": "Dairy",
        "Item_MRP": 100.0,
        "Outlet_Identifier": "OUT049",
        "Outlet_Establishment_Year": 1999,
        "Outlet_Size": "Medium",
        "Outlet_Location_Type": "Tier 1",
        "Outlet_Type": "Supermarket Type1",
    }
    base.update(changes)
    return base


def fitted(records, sales=None):
    batch = columns_from_records(records)
    target = np.asarray(sales if sales is not None else [1000.0 + i for i in range(len(records))])
    return Featurizer().fit(batch, target)


def transform(featurizer, records):
    return featurizer.transform(columns_from_records(records))


@pytest.mark.parametrize(
    ("label", "identifier", "expected"),
    [
        ("LF", "FDA15", "Low Fat"),
        ("low fat", "FDA15", "Low Fat"),
        ("Low Fat", "DRC01", "Low Fat"),
        ("reg", "FDA15", "Regular"),
        ("Regular", "FDA15", "Regular"),
        ("Low Fat", "NCD19", "Non-Edible"),
        (None, "NCD19", "Non-Edible"),
        (None, "FDA15", None),
    ],
)
def test_fat_content_spellings(label, identifier, expected):
    assert clean_fat_content(label, identifier) == expected


def test_item_category_from_prefix():
    assert [item_category(i) for i in ("FDA15", "DRC01", "NCD19", "XX1", None)] == [
        "Food",
        "Drinks",
        "Non-Consumable",
        None,
        None,
    ]


def test_five_spellings_become_two_codes_and_nc_its_own():
    rows = [record(Item_Fat_Content=s) for s in ("Low Fat", "LF", "low fat", "Regular", "reg")]
    rows.append(record(Item_Identifier="NCD19", Item_Fat_Content="Low Fat"))
    featurizer = fitted(rows)
    codes = transform(featurizer, rows)[:, COL["Item_Fat_Content_code"]]
    assert len(set(codes[:3])) == 1 and len(set(codes[3:5])) == 1
    assert len(set(codes)) == 3
    assert featurizer.categories_["Item_Fat_Content"] == sorted(
        ["Low Fat", "Regular", "Non-Edible"],
        key=lambda label: featurizer.categories_["Item_Fat_Content"].index(label),
    )


def test_missing_weight_comes_from_the_same_item_then_its_type():
    rows = [
        record(Item_Identifier="FDA15", Item_Weight=9.0),
        record(Item_Identifier="FDA15", Item_Weight=11.0),
        record(Item_Identifier="FDB20", Item_Type="Dairy", Item_Weight=20.0),
        record(Item_Identifier="DRX01", Item_Type="Soft Drinks", Item_Weight=5.0),
    ]
    featurizer = fitted(rows)
    out = transform(
        featurizer,
        [
            record(Item_Identifier="FDA15", Item_Weight=None),  # its own rows: mean 10
            record(Item_Identifier="FDZZZ", Item_Weight=None),  # its type's rows: (9+11+20)/3
            record(Item_Identifier="FDZZZ", Item_Weight=None, Item_Type="Nope"),  # overall mean
        ],
    )[:, COL["Item_Weight"]]
    assert out[0] == pytest.approx(10.0)
    assert out[1] == pytest.approx(40.0 / 3)
    assert out[2] == pytest.approx(np.mean([9.0, 11.0, 20.0, 5.0]))


def test_real_data_weights_are_filled_per_item_not_from_one_category(real_train_csv):
    data = read_labelled(real_train_csv)
    featurizer = Featurizer().fit(data.features, data.target)
    weights = featurizer.transform(data.features)[:, COL["Item_Weight"]]
    ids = data.features["Item_Identifier"]
    known = {i: w for i, w in zip(ids, data.features["Item_Weight"], strict=True) if w == w}
    missing = np.flatnonzero(np.isnan(data.features["Item_Weight"]))
    filled_from_item = [i for i in missing if ids[i] in known]
    assert len(filled_from_item) > 1400
    for i in filled_from_item:
        assert weights[i] == pytest.approx(known[ids[i]], rel=1e-6)
    assert len(set(np.round(weights[missing], 3))) > 100  # not one category's mean


def test_outlet_size_comes_from_the_outlet_type():
    rows = [
        record(Outlet_Identifier="OUT1", Outlet_Type="Grocery Store", Outlet_Size="Small"),
        record(Outlet_Identifier="OUT2", Outlet_Type="Grocery Store", Outlet_Size="Small"),
        record(Outlet_Identifier="OUT3", Outlet_Type="Supermarket Type1", Outlet_Size="High"),
        record(Outlet_Identifier="OUT4", Outlet_Type="Grocery Store", Outlet_Size=None),
    ]
    featurizer = fitted(rows)
    out = transform(
        featurizer,
        [
            record(Outlet_Identifier="OUT4", Outlet_Type="Grocery Store", Outlet_Size=None),
            record(Outlet_Size="Small"),
        ],
    )
    assert out[0, COL["Outlet_Size_code"]] == out[1, COL["Outlet_Size_code"]]


def test_zero_visibility_becomes_the_items_mean():
    rows = [record(Item_Visibility=0.02), record(Item_Visibility=0.04), record(Item_Visibility=0.0)]
    featurizer = fitted(rows)
    out = transform(featurizer, [record(Item_Visibility=0.0)])
    assert out[0, COL["Item_Visibility"]] == pytest.approx(0.03)
    assert out[0, COL["Item_Visibility_Ratio"]] == pytest.approx(1.0)


def test_outlet_age_and_category_are_added():
    featurizer = fitted([record(), record(Item_Identifier="DRC01")])
    out = transform(featurizer, [record(Outlet_Establishment_Year=1985)])
    assert out[0, COL["Outlet_Age"]] == 2013 - 1985
    assert out[0, COL["Item_Category_code"]] >= 0


def test_unknown_categories_and_missing_values_never_fail():
    featurizer = fitted([record(), record(Item_Identifier="DRC01", Outlet_Type="Grocery Store")])
    odd = {name: None for name in FEATURES}
    odd_known = record(Item_Type="Spaceships", Outlet_Identifier="OUT999", Outlet_Type="Moon")
    out = transform(featurizer, [odd, odd_known])
    assert np.isfinite(out).all()
    assert out[1, COL["Item_Type_code"]] == -1 and out[1, COL["Outlet_Type_code"]] == -1


def test_codes_are_ordered_by_mean_sales():
    rows = [
        record(Outlet_Type="Grocery Store"),
        record(Outlet_Type="Supermarket Type3"),
        record(Outlet_Type="Supermarket Type1"),
    ]
    featurizer = fitted(rows, sales=[100.0, 5000.0, 2000.0])
    assert featurizer.categories_["Outlet_Type"] == [
        "Grocery Store",
        "Supermarket Type1",
        "Supermarket Type3",
    ]


def test_state_is_plain_json_and_reproduces_transform_exactly(real_train_csv):
    data = read_labelled(real_train_csv)
    featurizer = Featurizer().fit(data.features, data.target)
    document = json.loads(json.dumps(featurizer.to_json()))
    restored = Featurizer.from_json(document)
    np.testing.assert_array_equal(
        restored.transform(data.features), featurizer.transform(data.features)
    )


def test_transform_never_refits():
    featurizer = fitted([record(Item_Weight=10.0)])
    before = json.dumps(featurizer.to_json(), sort_keys=True)
    transform(featurizer, [record(Item_Weight=99.0, Item_Type="New", Outlet_Identifier="X")])
    assert json.dumps(featurizer.to_json(), sort_keys=True) == before


def test_unfitted_featurizer_says_so():
    with pytest.raises(RuntimeError, match="not fitted"):
        transform(Featurizer(), [record()])


def test_foreign_json_is_refused():
    with pytest.raises(ValueError, match="format"):
        Featurizer.from_json({"format": "something-else"})


def test_empty_batch_gives_empty_matrix():
    featurizer = fitted([record()])
    assert transform(featurizer, []).shape == (0, len(FEATURE_NAMES_OUT))
    assert not math.isnan(featurizer.weight_default_)


def test_a_batch_is_featurized_bit_for_bit_as_its_rows_one_by_one(real_train_csv):
    """A batch of COLUMNAR_ROWS or more takes the numpy path, one row the list path."""
    data = read_labelled(real_train_csv)
    featurizer = Featurizer().fit(data.features, data.target)
    real = [{name: _plain(data.features[name][i]) for name in FEATURES} for i in range(0, 8000, 40)]
    odd = [
        record(Item_Weight=None, Item_Visibility=0.0, Item_MRP=None),
        record(Item_Identifier=None, Item_Type=None, Item_Visibility=None),
        record(Item_Identifier="ZZZ99", Item_Visibility=-1.0, Item_Fat_Content="LF"),
        record(Item_Identifier="NCD19", Item_Fat_Content="reg", Outlet_Size=None),
        record(Outlet_Identifier="OUT999", Outlet_Establishment_Year=None, Outlet_Size=None),
        record(Outlet_Identifier=None, Outlet_Type=None, Outlet_Size=None),
        record(Outlet_Establishment_Year=None, Item_Fat_Content=None, Item_Type="Unknown"),
        record(Outlet_Identifier="OUT019", Outlet_Establishment_Year=None),
    ]
    records = real + odd
    assert len(records) >= COLUMNAR_ROWS
    whole = featurizer.transform(columns_from_records(records))
    one_by_one = np.vstack([transform(featurizer, [r]) for r in records])
    assert whole.dtype == one_by_one.dtype == np.float32 and whole.flags.c_contiguous
    np.testing.assert_array_equal(whole, one_by_one)


def _plain(value):
    """A column's value as a JSON record holds it: NaN is missing."""
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    return value
