"""The order in which to score a batch's rows so that the forest's branches are predictable.

ONNX Runtime walks one row through every tree, then the next row. Consecutive rows that
differ take different paths, and the CPU mispredicts about every other branch: that, not
arithmetic, is most of the tree operator's time on a batch. Rows sorted by the values the
forest splits on most take the same paths one after another, so scoring a batch in that
order and putting the answers back in the request's order makes the operator about twice as
fast on Big Mart batches (``benchmarks/predict_profile.py --operators``). Each row is scored
alone, so the answers are the very same numbers.

The sort keys are read from the trees at training, not assumed, and stored in
metadata.json: the coarse feature the trees split on most (a category code or a year, a
few values that cut the rows into blocks sharing every split on it), then the fine one (a
price or a visibility, ordered within each block). Serving reads them there, so it needs
neither the ``onnx`` package nor a pass over the trees at start-up; a model without them
is scored as sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bigmart.clipping import clip
from bigmart.model.features import FEATURE_NAMES_OUT

#: A feature with at most this many distinct thresholds in the forest is coarse.
COARSE_THRESHOLDS = 32
#: Fewer rows than this are scored as sent: sorting would cost more than it saves.
MIN_ROWS = 32
#: The operators whose node attributes are read (ai.onnx.ml opset 1-3 export of a forest).
TREE_OPERATORS = frozenset({"TreeEnsembleRegressor"})
#: The metadata.json key training stores the sort keys under: a list of feature names.
METADATA_KEY = "row_order"


def sort_keys(onnx_bytes: bytes) -> list[str]:
    """The feature names to sort a batch by, most significant first (for metadata.json);
    empty when the graph holds no tree ensemble this module reads."""
    return [FEATURE_NAMES_OUT[column] for column in _sort_columns(onnx_bytes)]


def columns_of(metadata: dict[str, Any]) -> tuple[int, ...]:
    """The matrix columns named by metadata.json's sort keys; ValueError if they are not
    a short list of distinct feature names."""
    names = metadata.get(METADATA_KEY, [])
    if (
        not isinstance(names, list)
        or len(names) > len(FEATURE_NAMES_OUT)
        or len(set(map(str, names))) != len(names)
        or not all(name in FEATURE_NAMES_OUT for name in names)
    ):
        raise ValueError(
            f"{METADATA_KEY!r} must be a list of distinct feature names, got {clip(repr(names))}"
        )
    return tuple(FEATURE_NAMES_OUT.index(name) for name in names)


def _sort_columns(onnx_bytes: bytes) -> tuple[int, ...]:
    import onnx
    from onnx import helper

    model = onnx.load_model_from_string(onnx_bytes)
    nodes = [node for node in model.graph.node if node.op_type in TREE_OPERATORS]
    if len(nodes) != 1:
        return ()
    attributes = {a.name: helper.get_attribute_value(a) for a in nodes[0].attribute}
    try:
        return _keys(
            np.asarray(attributes["nodes_treeids"], dtype=np.int64),
            np.asarray(attributes["nodes_nodeids"], dtype=np.int64),
            np.asarray(attributes["nodes_featureids"], dtype=np.int64),
            np.asarray(attributes["nodes_truenodeids"], dtype=np.int64),
            np.asarray(attributes["nodes_falsenodeids"], dtype=np.int64),
            np.asarray(attributes["nodes_values"], dtype=np.float64),
            np.asarray([mode != b"LEAF" for mode in attributes["nodes_modes"]]),
        )
    except (KeyError, ValueError, IndexError):  # not the layout skl2onnx writes
        return ()


def order_of(matrix: np.ndarray, columns: Sequence[int]) -> np.ndarray | None:
    """The row order to score ``matrix`` in (indices), or None to score it as sent."""
    if not columns or len(matrix) < MIN_ROWS:
        return None
    return np.lexsort([matrix[:, column] for column in reversed(columns)])


def _keys(
    trees: np.ndarray,
    ids: np.ndarray,
    features: np.ndarray,
    true_ids: np.ndarray,
    false_ids: np.ndarray,
    thresholds: np.ndarray,
    is_split: np.ndarray,
) -> tuple[int, ...]:
    """The heaviest coarse feature, then the heaviest fine one. A split weighs 2^-depth,
    the share of rows that reach it if splits halve the rows."""
    width = int(ids.max()) + 1
    index = np.full((int(trees.max()) + 1) * width, -1, dtype=np.int64)
    index[trees * width + ids] = np.arange(len(ids))
    depth = np.full(len(ids), -1, dtype=np.int64)
    depth[ids == 0] = 0
    for level in range(len(ids)):  # one pass per level: at most the deepest tree's depth
        parents = np.flatnonzero(is_split & (depth == level))
        if not len(parents):
            break
        for children in (true_ids[parents], false_ids[parents]):
            depth[index[trees[parents] * width + children]] = level + 1
    if (depth[is_split] < 0).any():
        raise ValueError("a split is not reachable from its tree's root")
    split_features, split_thresholds = features[is_split], thresholds[is_split]
    weight = np.bincount(split_features, weights=0.5 ** depth[is_split].astype(np.float64))
    used = np.flatnonzero(weight)
    coarse = {
        feature: len(np.unique(split_thresholds[split_features == feature])) <= COARSE_THRESHOLDS
        for feature in used
    }
    keys = []
    for kind in (True, False):  # the coarse key first
        of_kind = [feature for feature in used if coarse[feature] == kind]
        if of_kind:
            keys.append(int(max(of_kind, key=weight.__getitem__)))
    return tuple(keys)
