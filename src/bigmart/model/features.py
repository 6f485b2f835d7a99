"""The featurizer: Big Mart's cleaning, learned at training and replayed exactly at serving.

It follows scikit-learn's shape (``fit`` learns and returns self, fitted state ends in
``_``, ``transform`` never refits) but its fitted state is plain JSON, saved beside the
forest, so the endpoint and batch transform apply the very cleaning the model was trained
with. Nothing at prediction time is an error: an unseen category or a missing value gets
a fitted fill or an "unknown" code.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from itertools import repeat
from typing import Any

import numpy as np

from bigmart.schema import CATEGORICAL, RawBatch

FORMAT = "bigmart-featurizer/1"

#: Fat-content spellings seen in the wild, lower-cased, to their one true label.
FAT_CONTENT_SPELLINGS: dict[str, str] = {
    "low fat": "Low Fat",
    "lf": "Low Fat",
    "low_fat": "Low Fat",
    "lowfat": "Low Fat",
    "regular": "Regular",
    "reg": "Regular",
}
#: Non-consumables (identifiers ``NC…``) have no fat content, whatever the row says.
NON_EDIBLE = "Non-Edible"
#: The item category is the identifier's two-letter prefix.
ITEM_CATEGORIES: dict[str, str] = {"FD": "Food", "DR": "Drinks", "NC": "Non-Consumable"}

#: The encoded columns (codes ordered by mean sales at fit time; -1 = unknown or missing).
ENCODED: tuple[str, ...] = (
    "Item_Fat_Content",
    "Item_Type",
    "Item_Category",
    "Outlet_Identifier",
    "Outlet_Size",
    "Outlet_Location_Type",
    "Outlet_Type",
)
#: The columns of the matrix ``transform`` returns, in order.
FEATURE_NAMES_OUT: tuple[str, ...] = (
    "Item_Weight",
    "Item_Visibility",
    "Item_Visibility_Ratio",
    "Item_MRP",
    "Outlet_Age",
    *(f"{name}_code" for name in ENCODED),
)
UNKNOWN_CODE = -1.0
#: From this many rows ``transform`` works on numpy columns: below it, on plain lists.
COLUMNAR_ROWS = 64


def clean_fat_content(label: str | None, identifier: str | None) -> str | None:
    """One fat-content label, spelled one way; non-consumables are Non-Edible."""
    if identifier is not None and identifier[:2].upper() == "NC":
        return NON_EDIBLE
    if label is None:
        return None
    return FAT_CONTENT_SPELLINGS.get(label.strip().lower(), label)


def item_category(identifier: str | None) -> str | None:
    """Food, Drinks or Non-Consumable, from the identifier's prefix; None if unknown."""
    if identifier is None:
        return None
    return ITEM_CATEGORIES.get(identifier[:2].upper())


class Featurizer:
    """Raw Big Mart rows (a ``RawBatch``) to a float32 feature matrix.

    Fitted: each item's weight and visibility from its own rows (then its type's, then
    overall), each outlet's size and opening year (then the outlet type's most common
    size), medians for the other numbers, and category codes ordered by mean sales.
    """

    def __init__(self, reference_year: int = 2013) -> None:
        # The data are 2013 sales, so an outlet's age is counted to 2013.
        self.reference_year = reference_year

    # -- fitting ------------------------------------------------------------------------

    def fit(self, batch: RawBatch, target: np.ndarray) -> Featurizer:
        """Learn the fills and encodings from training rows and their sales."""
        ids: Sequence[str | None] = batch["Item_Identifier"]
        types: Sequence[str | None] = batch["Item_Type"]
        outlets: Sequence[str | None] = batch["Outlet_Identifier"]
        outlet_types: Sequence[str | None] = batch["Outlet_Type"]
        weight = batch["Item_Weight"]
        visibility = batch["Item_Visibility"]

        self.item_weight_ = _group_means(ids, weight)
        self.type_weight_ = _group_means(types, weight)
        self.weight_default_ = _mean(weight)

        seen = np.where(visibility > 0, visibility, np.nan)
        self.item_visibility_ = _group_means(ids, seen)
        self.type_visibility_ = _group_means(types, seen)
        self.visibility_default_ = _mean(seen)

        sizes: Sequence[str | None] = batch["Outlet_Size"]
        self.outlet_size_ = _group_modes(outlets, sizes)
        self.outlet_type_size_ = _group_modes(outlet_types, sizes)
        self.size_default_ = _mode(sizes)

        years = batch["Outlet_Establishment_Year"]
        self.outlet_year_ = _group_means(outlets, years)
        self.year_default_ = _median(years)
        self.mrp_default_ = _median(batch["Item_MRP"])

        cleaned = self._clean_categories(batch)
        self.categories_ = {name: _labels_by_mean_target(cleaned[name], target) for name in ENCODED}
        self._build_lookups()
        self.n_features_in_ = len(CATEGORICAL) + 4
        self.feature_names_out_ = FEATURE_NAMES_OUT
        return self

    # -- transforming -------------------------------------------------------------------

    def transform(self, batch: RawBatch) -> np.ndarray:
        """The feature matrix (float32, one row per input row, columns ``FEATURE_NAMES_OUT``).

        A real-time request is one row, where a few dozen small numpy operations would cost
        more than the forest itself: it is built from plain lists and converted once. A
        batch of ``COLUMNAR_ROWS`` or more is built column by column with numpy, the same
        fills applied only to the rows that lack a value; both give the same matrix.
        """
        self._check_fitted()
        if len(batch["Item_Identifier"]) >= COLUMNAR_ROWS:
            return self._transform_columns(batch)
        ids: Sequence[str | None] = batch["Item_Identifier"]
        types: Sequence[str | None] = batch["Item_Type"]
        outlets: Sequence[str | None] = batch["Outlet_Identifier"]

        weight = batch["Item_Weight"].tolist()
        for i, value in enumerate(weight):
            if value != value:  # NaN: missing
                weight[i] = self._weight_for(ids[i], types[i])
        visibility = batch["Item_Visibility"].tolist()
        for i, value in enumerate(visibility):
            if not value > 0:  # zero, negative or missing: a product on sale is seen
                visibility[i] = self._visibility_for(ids[i], types[i])
        item_visibility = self.item_visibility_
        ratio = [
            _ratio(value, item_visibility.get(item, value)) if item is not None else 1.0
            for value, item in zip(visibility, ids, strict=True)
        ]
        mrp = [self.mrp_default_ if v != v else v for v in batch["Item_MRP"].tolist()]
        year = batch["Outlet_Establishment_Year"].tolist()
        for i, value in enumerate(year):
            if value != value:
                year[i] = self.outlet_year_.get(outlets[i], self.year_default_)
        age = [self.reference_year - value for value in year]

        cleaned = self._clean_categories(batch)
        codes = [
            [self._codes[name].get(label, UNKNOWN_CODE) for label in cleaned[name]]
            for name in ENCODED
        ]
        columns = np.array([weight, visibility, ratio, mrp, age, *codes], dtype=np.float32)
        return np.ascontiguousarray(columns.T).reshape(len(ids), len(FEATURE_NAMES_OUT))

    def _transform_columns(self, batch: RawBatch) -> np.ndarray:
        """``transform`` for a batch: numpy columns; Python loops only over missing cells
        and the labels' spellings."""
        ids: Sequence[str | None] = batch["Item_Identifier"]
        types: Sequence[str | None] = batch["Item_Type"]
        outlets: Sequence[str | None] = batch["Outlet_Identifier"]
        weight = np.array(batch["Item_Weight"], dtype=np.float64)
        for i in np.flatnonzero(np.isnan(weight)).tolist():
            weight[i] = self._weight_for(ids[i], types[i])
        visibility = np.array(batch["Item_Visibility"], dtype=np.float64)
        for i in np.flatnonzero(~(visibility > 0)).tolist():
            visibility[i] = self._visibility_for(ids[i], types[i])
        # An unknown or missing item (None -> NaN) is its own mean: ratio 1.
        means = np.array(list(map(self.item_visibility_.get, ids)), dtype=np.float64)
        means = np.where(np.isnan(means), visibility, means)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(means > 0, visibility / means, 1.0)
        mrp = np.array(batch["Item_MRP"], dtype=np.float64)
        mrp[np.isnan(mrp)] = self.mrp_default_
        year = np.array(batch["Outlet_Establishment_Year"], dtype=np.float64)
        for i in np.flatnonzero(np.isnan(year)).tolist():
            year[i] = self.outlet_year_.get(outlets[i], self.year_default_)

        matrix = np.empty((len(ids), len(FEATURE_NAMES_OUT)), dtype=np.float32)
        for column, values in enumerate(
            (weight, visibility, ratio, mrp, self.reference_year - year)
        ):
            matrix[:, column] = values
        cleaned = self._clean_categories(batch)
        for column, name in enumerate(ENCODED, start=5):
            codes = self._codes[name]
            matrix[:, column] = np.fromiter(
                map(codes.get, cleaned[name], repeat(UNKNOWN_CODE)),
                dtype=np.float64,
                count=len(ids),
            )
        return matrix

    def fit_transform(self, batch: RawBatch, target: np.ndarray) -> np.ndarray:
        return self.fit(batch, target).transform(batch)

    def cleaned_categories(self, batch: RawBatch) -> dict[str, list[str | None]]:
        """The encoded columns' labels after cleaning, as ``transform`` looks up their codes
        (a label not in ``categories_`` gets the unknown code)."""
        self._check_fitted()
        return self._clean_categories(batch)

    # -- state --------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The fitted state as a plain JSON object."""
        self._check_fitted()
        return {
            "format": FORMAT,
            "params": {"reference_year": self.reference_year},
            "feature_names_out": list(FEATURE_NAMES_OUT),
            "state": {name: getattr(self, name) for name in _STATE},
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Featurizer:
        """Rebuild a fitted featurizer from ``to_json``'s output; reject anything else."""
        if not isinstance(document, Mapping) or document.get("format") != FORMAT:
            found = document.get("format") if isinstance(document, Mapping) else None
            raise ValueError(f"not a featurizer document: format is {found!r}, expected {FORMAT!r}")
        if list(document.get("feature_names_out", [])) != list(FEATURE_NAMES_OUT):
            raise ValueError(
                "featurizer document lists other feature columns than this "
                "version produces; retrain the model with this version"
            )
        state = document.get("state", {})
        missing = [name for name in _STATE if name not in state]
        if missing:
            raise ValueError(f"featurizer document lacks {', '.join(missing)}")
        featurizer = cls(**document.get("params", {}))
        for name in _STATE:
            setattr(featurizer, name, state[name])
        featurizer.n_features_in_ = len(CATEGORICAL) + 4
        featurizer.feature_names_out_ = FEATURE_NAMES_OUT
        featurizer._build_lookups()
        return featurizer

    # -- internals ----------------------------------------------------------------------

    def _build_lookups(self) -> None:
        self._codes = {
            name: {label: float(code) for code, label in enumerate(labels)}
            for name, labels in self.categories_.items()
        }

    def _check_fitted(self) -> None:
        if not hasattr(self, "categories_"):
            raise RuntimeError("this Featurizer is not fitted yet; call fit first")

    def _weight_for(self, identifier: str | None, item_type: str | None) -> float:
        weight = self.item_weight_.get(identifier) if identifier is not None else None
        if weight is None and item_type is not None:
            weight = self.type_weight_.get(item_type)
        return self.weight_default_ if weight is None else weight

    def _visibility_for(self, identifier: str | None, item_type: str | None) -> float:
        visibility = self.item_visibility_.get(identifier) if identifier is not None else None
        if visibility is None and item_type is not None:
            visibility = self.type_visibility_.get(item_type)
        return self.visibility_default_ if visibility is None else visibility

    def _clean_categories(self, batch: RawBatch) -> dict[str, list[str | None]]:
        ids = batch["Item_Identifier"]
        outlets = batch["Outlet_Identifier"]
        outlet_types = batch["Outlet_Type"]
        sizes = list(batch["Outlet_Size"])
        if hasattr(self, "outlet_size_"):
            for i, size in enumerate(sizes):
                if size is None:
                    sizes[i] = self.outlet_size_.get(outlets[i]) or self.outlet_type_size_.get(
                        outlet_types[i], self.size_default_
                    )
        return {
            "Item_Fat_Content": [
                clean_fat_content(label, identifier)
                for label, identifier in zip(batch["Item_Fat_Content"], ids, strict=True)
            ],
            "Item_Type": list(batch["Item_Type"]),
            "Item_Category": [item_category(identifier) for identifier in ids],
            "Outlet_Identifier": list(outlets),
            "Outlet_Size": sizes,
            "Outlet_Location_Type": list(batch["Outlet_Location_Type"]),
            "Outlet_Type": list(outlet_types),
        }


_STATE = (
    "item_weight_",
    "type_weight_",
    "weight_default_",
    "item_visibility_",
    "type_visibility_",
    "visibility_default_",
    "outlet_size_",
    "outlet_type_size_",
    "size_default_",
    "outlet_year_",
    "year_default_",
    "mrp_default_",
    "categories_",
)


def _ratio(value: float, mean: float) -> float:
    return value / mean if mean > 0 else 1.0


def _group_means(keys: Iterable[str | None], values: np.ndarray) -> dict[str, float]:
    sums: dict[str, float] = defaultdict(float)
    counts: Counter[str] = Counter()
    for key, value in zip(keys, values.tolist(), strict=True):
        if key is not None and not math.isnan(value):
            sums[key] += value
            counts[key] += 1
    return {key: sums[key] / counts[key] for key in sorted(counts)}


def _group_modes(keys: Iterable[str | None], labels: Iterable[str | None]) -> dict[str, str]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for key, label in zip(keys, labels, strict=True):
        if key is not None and label is not None:
            counts[key][label] += 1
    return {key: _most_common(counter) for key, counter in sorted(counts.items())}


def _mode(labels: Iterable[str | None]) -> str | None:
    counter = Counter(label for label in labels if label is not None)
    return _most_common(counter) if counter else None


def _most_common(counter: Counter[str]) -> str:
    # Ties go to the alphabetically first label, so fitting is deterministic.
    return min(counter.items(), key=lambda item: (-item[1], item[0]))[0]


def _mean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else 0.0


def _median(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(np.median(finite)) if finite.size else 0.0


def _labels_by_mean_target(labels: Sequence[str | None], target: np.ndarray) -> list[str]:
    """Known labels ordered by their mean target, so a tree splits them like numbers."""
    means = _group_means(labels, target)
    return sorted(means, key=lambda label: (means[label], label))
