"""The order in which to score a batch's rows so that the forest's branches are predictable.

ONNX Runtime walks one row through every tree, then the next row. Consecutive rows that
differ take different paths, and the CPU mispredicts about every other branch: that, not
arithmetic, is most of the tree operator's time on a batch. Rows sorted by the values the
forest splits on most take the same paths one after another, so scoring a batch in that
order and putting the answers back in the request's order makes the operator about twice as
fast on Big Mart batches (``benchmarks/predict_profile.py --operators``). Each row is scored
alone, so the answers are the very same numbers.

The sort keys are read from the trees at training and stored in metadata.json: the coarse
feature the trees split on most (a category code or a year, a few values that cut the rows
into blocks sharing every split on it), then the fine one (a price or a visibility, ordered
within each block). Serving reads them there and needs no pass over the trees; a model
without them is scored as sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bigmart.clipping import clip
from bigmart.model.features import FEATURE_NAMES_OUT

#: The metadata.json key training stores the sort keys under: a list of feature names.
METADATA_KEY = "row_order"
#: A feature with at most this many distinct thresholds in the forest is coarse.
COARSE_THRESHOLDS = 32
#: Fewer rows than this are scored as sent: sorting would cost more than it saves.
MIN_ROWS = 32


def sort_keys(forest: Any) -> list[str]:
    """The feature names to sort a batch by, most significant first, for metadata.json.

    ``forest`` is a fitted scikit-learn forest (its ``estimators_``' ``tree_`` arrays). A
    split weighs the share of the training rows that reach it, so a feature's weight is how
    many splits on it a row meets, on average, through the whole forest.
    """
    features, thresholds, shares = [], [], []
    for estimator in forest.estimators_:
        tree = estimator.tree_
        split = tree.children_left >= 0  # a leaf has no children
        features.append(tree.feature[split])
        thresholds.append(tree.threshold[split])
        shares.append(tree.n_node_samples[split] / tree.n_node_samples[0])
    feature = np.concatenate(features).astype(np.int64)
    threshold = np.concatenate(thresholds)
    weight = np.bincount(feature, weights=np.concatenate(shares), minlength=len(FEATURE_NAMES_OUT))
    used = np.flatnonzero(weight)
    coarse = {f: len(np.unique(threshold[feature == f])) <= COARSE_THRESHOLDS for f in used}
    keys = []
    for kind in (True, False):  # the coarse key first
        of_kind = [f for f in used if coarse[f] == kind]
        if of_kind:
            keys.append(FEATURE_NAMES_OUT[max(of_kind, key=weight.__getitem__)])
    return keys


def columns_of(metadata: Mapping[str, Any]) -> tuple[int, ...]:
    """The matrix columns named by metadata.json's sort keys (none if it has none);
    ValueError if they are not a list of distinct feature names."""
    names = metadata.get(METADATA_KEY, [])
    if (
        not isinstance(names, list)
        or not all(isinstance(name, str) and name in FEATURE_NAMES_OUT for name in names)
        or len(set(names)) != len(names)
    ):
        raise ValueError(
            f"{METADATA_KEY!r} must be a list of distinct feature names, got {clip(repr(names))}"
        )
    return tuple(FEATURE_NAMES_OUT.index(name) for name in names)


def order_of(matrix: np.ndarray, columns: Sequence[int]) -> np.ndarray | None:
    """The row order to score ``matrix`` in (indices), or None to score it as sent."""
    if not columns or len(matrix) < MIN_ROWS:
        return None
    return np.lexsort([matrix[:, column] for column in reversed(columns)])
