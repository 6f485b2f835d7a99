"""What the fitted cleaning did to a set of rows: how many values each rule filled or
changed, and which categories it had never seen.

The training report shows these so a person can judge the data, not only the model (a
third of the weights filled from the overall mean would say the items rarely repeat).
The fills follow the featurizer's own order (``Featurizer._weight_for``,
``_visibility_for``, ``_clean_categories``); the tests check each count against what
``transform`` produced.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from bigmart.model.features import ENCODED, NON_EDIBLE, Featurizer, clean_fat_content
from bigmart.schema import RawBatch

#: Unseen labels listed per column (the most frequent); the count of the rest is kept.
MAX_LISTED = 20


def cleaning_counts(featurizer: Featurizer, batch: RawBatch) -> dict[str, dict[str, Any]]:
    """Per column, the rows each cleaning rule touched in ``batch`` and where the fill
    came from (``from_*``, each row counted once, at the first source that had a value)."""
    ids = batch["Item_Identifier"]
    types = batch["Item_Type"]
    outlets = batch["Outlet_Identifier"]
    outlet_types = batch["Outlet_Type"]

    weight: Counter[str] = Counter()
    for i in np.flatnonzero(np.isnan(batch["Item_Weight"])).tolist():
        source = _item_source(featurizer.item_weight_, featurizer.type_weight_, ids[i], types[i])
        weight[source] += 1

    visibility: Counter[str] = Counter()
    values = batch["Item_Visibility"]
    for i in np.flatnonzero(~(values > 0)).tolist():
        visibility["missing" if np.isnan(values[i]) else "zero"] += 1
        visibility[
            _item_source(featurizer.item_visibility_, featurizer.type_visibility_, ids[i], types[i])
        ] += 1

    size: Counter[str] = Counter()
    for i, label in enumerate(batch["Outlet_Size"]):
        if label is not None:
            continue
        if featurizer.outlet_size_.get(outlets[i]):
            size["from_outlet"] += 1
        elif outlet_types[i] in featurizer.outlet_type_size_:
            size["from_outlet_type"] += 1
        elif featurizer.size_default_ is not None:
            size["from_most_common"] += 1
        else:
            size["left_unknown"] += 1

    year: Counter[str] = Counter()
    for i in np.flatnonzero(np.isnan(batch["Outlet_Establishment_Year"])).tolist():
        year["from_outlet" if outlets[i] in featurizer.outlet_year_ else "from_median"] += 1

    fat: Counter[str] = Counter()
    respelled: Counter[str] = Counter()
    for label, identifier in zip(batch["Item_Fat_Content"], ids, strict=True):
        cleaned = clean_fat_content(label, identifier)
        if cleaned == NON_EDIBLE and label != NON_EDIBLE:
            fat["non_edible"] += 1
        elif label is None:
            fat["missing"] += 1
        elif cleaned != label:
            respelled[label] += 1

    mrp_missing = int(np.isnan(batch["Item_MRP"]).sum())
    return {
        "Item_Weight": {"missing": sum(weight.values()), **_sources(weight)},
        "Item_Visibility": {
            "zero": visibility.pop("zero", 0),
            "missing": visibility.pop("missing", 0),
            **_sources(visibility),
        },
        "Outlet_Size": {"missing": sum(size.values()), **_sources(size)},
        "Outlet_Establishment_Year": {"missing": sum(year.values()), **_sources(year)},
        "Item_MRP": {"missing": mrp_missing, "from_median": mrp_missing},
        "Item_Fat_Content": {
            "respelled": sum(respelled.values()),
            "spellings": dict(sorted(respelled.items())),
            "non_edible": fat["non_edible"],
            "missing": fat["missing"],
        },
    }


def unseen_categories(featurizer: Featurizer, batch: RawBatch) -> dict[str, dict[str, Any]]:
    """Per column, the rows of ``batch`` whose label the fit never saw (they get the
    unknown code, or for an item the fills of its type): the count, and the labels."""
    found: dict[str, Counter[str]] = {}
    known_items = featurizer.item_weight_.keys() | featurizer.item_visibility_.keys()
    found["Item_Identifier"] = Counter(
        item for item in batch["Item_Identifier"] if item is not None and item not in known_items
    )
    cleaned = featurizer.cleaned_categories(batch)
    for name in ENCODED:
        known = set(featurizer.categories_[name])
        found[name] = Counter(label for label in cleaned[name] if label and label not in known)
    return {
        name: {
            "rows": sum(counter.values()),
            "labels": dict(
                sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:MAX_LISTED]
            ),
            "distinct": len(counter),
        }
        for name, counter in found.items()
    }


def _item_source(
    by_item: dict[str, float], by_type: dict[str, float], item: str | None, kind: str | None
) -> str:
    if item is not None and item in by_item:
        return "from_item"
    if kind is not None and kind in by_type:
        return "from_item_type"
    return "from_overall_mean"


def _sources(counter: Counter[str]) -> dict[str, int]:
    kept = ("from_", "left_")
    return {key: count for key, count in sorted(counter.items()) if key.startswith(kept)}
