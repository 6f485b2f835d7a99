"""The sort keys read from a forest's trees, and the order they give a batch."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import RandomForestRegressor

from bigmart.model.artifact import read_model
from bigmart.model.features import FEATURE_NAMES_OUT
from bigmart.model.row_order import METADATA_KEY, MIN_ROWS, columns_of, order_of, sort_keys

WIDTH = len(FEATURE_NAMES_OUT)
OUTLET = FEATURE_NAMES_OUT.index("Outlet_Identifier_code")
MRP = FEATURE_NAMES_OUT.index("Item_MRP")
WEIGHT = FEATURE_NAMES_OUT.index("Item_Weight")
COARSE = {name for name in FEATURE_NAMES_OUT if name.endswith("_code")} | {"Outlet_Age"}


def _forest(target_of) -> RandomForestRegressor:
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(2000, WIDTH)).astype(np.float32)
    matrix[:, OUTLET] = rng.integers(0, 6, size=2000)  # six codes: a coarse feature
    matrix[:, MRP] = rng.uniform(30, 270, size=2000)
    forest = RandomForestRegressor(n_estimators=10, max_depth=4, random_state=0)
    return forest.fit(matrix, target_of(matrix))


def test_the_heaviest_coarse_feature_comes_first_then_the_heaviest_fine_one():
    forest = _forest(lambda m: 500 * m[:, OUTLET] + 10 * m[:, MRP] + 50 * m[:, WEIGHT])
    assert sort_keys(forest) == ["Outlet_Identifier_code", "Item_MRP"]


def test_a_forest_that_splits_on_fine_features_only_gives_one_key():
    forest = _forest(lambda m: 10 * m[:, MRP] + 50 * m[:, WEIGHT])
    assert sort_keys(forest) == ["Item_MRP"]


def test_training_stores_the_keys_of_its_trees(trained_model):
    keys = read_model(trained_model).metadata[METADATA_KEY]
    assert len(keys) == 2 and keys[0] in COARSE and keys[1] not in COARSE


def test_the_order_sorts_by_the_keys_and_leaves_small_batches_as_sent():
    matrix = np.zeros((MIN_ROWS, WIDTH), dtype=np.float32)
    matrix[:, OUTLET] = np.arange(MIN_ROWS) % 3
    matrix[:, MRP] = -np.arange(MIN_ROWS)
    columns = columns_of({METADATA_KEY: ["Outlet_Identifier_code", "Item_MRP"]})
    order = order_of(matrix, columns)
    assert order is not None and sorted(order) == list(range(MIN_ROWS))
    ordered = matrix[order]
    assert (np.diff(ordered[:, OUTLET]) >= 0).all()
    for code in range(3):
        assert (np.diff(ordered[ordered[:, OUTLET] == code, MRP]) >= 0).all()
    assert order_of(matrix[: MIN_ROWS - 1], columns) is None
    assert order_of(matrix, ()) is None
    assert columns_of({}) == ()
