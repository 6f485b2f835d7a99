"""How far rows an endpoint was sent have moved from the training rows' profile
(``baseline.json``), feature by feature, and its predictions from the validation ones.

The score is the population stability index over the baseline's own bins::

    PSI = sum over bins of (captured share - training share) * ln(captured share / training share)

Below 0.1 a distribution is taken as unchanged, 0.1 to 0.2 as a moderate shift, and from
``PSI_THRESHOLD`` = 0.2 on as a significant one: the rule of thumb of credit scoring, where
PSI comes from (Wu and Olson, "Enterprise risk management: coping with model risk in a large
bank", Journal of the Operational Research Society 61(2), 2010; older texts put the line at
0.25). A feature is ``drift: true`` when its PSI is at least 0.2.

The bins:

- numeric columns: the baseline's decile bins (stored edges, open outer bins, binned by
  ``baseline.count_bins`` as at training), plus one bin for missing values;
- categorical columns: each category holding at least ``MIN_CATEGORY_SHARE`` of the
  training rows, one bin pooling the rarer seen categories, one for categories training
  never saw (unseen), one for missing values. Pooling keeps PSI meaningful for a column of
  1,559 item ids: with one bin per id, a few thousand rows leave most bins empty by chance;
- predictions: the baseline's decile bins of the validation predictions.

A share of zero (an empty bin on either side) counts as ``EPSILON`` = 0.0001, so every term
is finite: a training bin of 10% that receives nothing adds (0.1 - 0.0001) * ln(1000), 0.69.
Sampling noise alone gives a PSI of about (bins - 1) / rows, 0.01 for 10 bins and 1,000
rows: a report on a few dozen rows can flag drift that is only chance (``MIN_ROWS``).

Counting is streamed: a ``DriftTally`` keeps counts per bin (and at most
``MAX_UNSEEN_LABELS`` distinct unseen labels), never the rows, so its memory does not grow
with the rows it is given.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bigmart.model.baseline import FORMAT as BASELINE_FORMAT
from bigmart.model.baseline import count_bins
from bigmart.schema import FEATURES, NUMERIC, RawBatch

FORMAT = "bigmart-drift/1"
PSI_THRESHOLD = 0.2
#: Share an empty bin counts as (either side), so that ln() stays finite.
EPSILON = 1e-4
#: Categories under this share of the training rows share one bin.
MIN_CATEGORY_SHARE = 0.01
#: Below this many rows the report warns that PSI is mostly sampling noise.
MIN_ROWS = 200
#: Distinct unseen labels counted one by one per column; further new ones are counted in
#: total only (a client sending random ids cannot grow the tally without bound).
MAX_UNSEEN_LABELS = 10_000
#: Unseen labels listed per column in the report, the most frequent first.
UNSEEN_EXAMPLES = 10

MISSING = "(missing)"
RARE = "(rarer categories)"
UNSEEN = "(unseen)"


class BaselineError(ValueError):
    """A baseline.json this code cannot read (another format)."""


def psi(expected: Sequence[float], actual: Sequence[float]) -> float | None:
    """The PSI of counts ``actual`` against counts ``expected`` over the same bins, shares
    floored at ``EPSILON``; None when either side has no rows."""
    baseline = np.asarray(expected, dtype=np.float64)
    captured = np.asarray(actual, dtype=np.float64)
    if baseline.sum() <= 0 or captured.sum() <= 0:
        return None
    p = np.maximum(baseline / baseline.sum(), EPSILON)
    q = np.maximum(captured / captured.sum(), EPSILON)
    return float(np.sum((q - p) * np.log(q / p)))


def bin_labels(edges: Sequence[float]) -> list[str]:
    """A person's names for the bins of ``edges``: the outer ones open (``< 52.2``,
    ``≥ 231``), as ``count_bins`` counts them."""
    bins = len(edges) - 1
    if bins < 1:
        return []
    if bins == 1:
        return [f"{_short(edges[0])}\u2013{_short(edges[1])}"]
    labels = [f"< {_short(edges[1])}"]
    labels += [f"{_short(edges[i])}\u2013{_short(edges[i + 1])}" for i in range(1, bins - 1)]
    labels.append(f"\u2265 {_short(edges[-2])}")
    return labels


def _short(value: float) -> str:
    return f"{value:,.4g}" if abs(value) < 1e6 else f"{value:.3g}"


class _NumericTally:
    """One numeric column: counts on the baseline's bins plus a missing bin, and the range."""

    def __init__(self, profile: Mapping[str, Any]) -> None:
        histogram = profile.get("histogram") or {}
        self.edges: list[float] = list(histogram.get("edges") or [])
        self.labels = [*bin_labels(self.edges), MISSING]
        self.baseline = [*(histogram.get("counts") or []), int(profile["missing"])]
        self.baseline_missing_rate = float(profile["missing_rate"])
        self.baseline_range = [self.edges[0], self.edges[-1]] if self.edges else None
        self.counts = np.zeros(len(self.labels), dtype=np.int64)
        self.low, self.high = math.inf, -math.inf

    def add(self, values: Any) -> None:
        values = np.asarray(values, dtype=np.float64)
        present = values[~np.isnan(values)]
        self.counts[-1] += values.size - present.size
        if present.size:
            self.low = min(self.low, float(present.min()))
            self.high = max(self.high, float(present.max()))
            if self.edges:
                self.counts[:-1] += np.asarray(count_bins(present, self.edges), dtype=np.int64)

    def document(self) -> dict[str, Any]:
        rows = int(self.counts.sum())
        return {
            "kind": "numeric",
            **_scores(self.baseline, self.counts, self.baseline_missing_rate, rows),
            "range": {
                "baseline": self.baseline_range,
                "captured": [self.low, self.high] if self.low <= self.high else None,
            },
            "bins": _bins(self.labels, self.baseline, self.counts),
        }


class _CategoricalTally:
    """One categorical column: counts per common category, the rarer seen ones pooled,
    unseen ones (labels kept up to ``MAX_UNSEEN_LABELS``), missing."""

    def __init__(self, profile: Mapping[str, Any]) -> None:
        counts: Mapping[str, int] = profile["counts"]
        floor = MIN_CATEGORY_SHARE * int(profile["rows"])
        common = sorted((c for c in counts if counts[c] >= floor), key=lambda c: (-counts[c], c))
        self.index = {label: i for i, label in enumerate(common)}
        self.seen = frozenset(counts)
        self.labels = [*common, RARE, UNSEEN, MISSING]
        rare = sum(n for c, n in counts.items() if c not in self.index)
        # Labels past baseline.MAX_CATEGORIES were summed in "other": to this tally they are
        # unseen, so the unseen bin starts with them.
        self.baseline = [
            *(counts[c] for c in common),
            rare,
            int(profile.get("other", 0)),
            int(profile["missing"]),
        ]
        self.baseline_missing_rate = float(profile["missing_rate"])
        self.counts = np.zeros(len(self.labels), dtype=np.int64)
        self.unseen: Counter[str] = Counter()
        self.unseen_untracked = 0  # rows with a new unseen label past MAX_UNSEEN_LABELS

    def add(self, labels: Sequence[str | None]) -> None:
        rare, unseen, missing = len(self.labels) - 3, len(self.labels) - 2, len(self.labels) - 1
        for label, count in Counter(labels).items():  # one C loop, then the distinct labels
            if label is None:
                self.counts[missing] += count
            elif label in self.index:
                self.counts[self.index[label]] += count
            elif label in self.seen:
                self.counts[rare] += count
            else:
                self.counts[unseen] += count
                if label in self.unseen or len(self.unseen) < MAX_UNSEEN_LABELS:
                    self.unseen[label] += count
                else:
                    self.unseen_untracked += count

    def document(self) -> dict[str, Any]:
        rows = int(self.counts.sum())
        unseen_rows = int(self.counts[-2])
        return {
            "kind": "categorical",
            **_scores(self.baseline, self.counts, self.baseline_missing_rate, rows),
            "unseen": {
                "rows": unseen_rows,
                "rate": unseen_rows / rows if rows else 0.0,
                "distinct": len(self.unseen) + (1 if self.unseen_untracked else 0),
                "distinct_is_lower_bound": bool(self.unseen_untracked),
                "examples": dict(self.unseen.most_common(UNSEEN_EXAMPLES)),
            },
            "bins": _bins(self.labels, self.baseline, self.counts),
        }


def _scores(
    baseline: Sequence[int], counts: np.ndarray, baseline_missing_rate: float, rows: int
) -> dict[str, Any]:
    score = psi(baseline, counts)
    captured_missing = float(counts[-1]) / rows if rows else None
    return {
        "psi": score,
        "drift": None if score is None else score >= PSI_THRESHOLD,
        "rows": rows,
        "missing_rate": {
            "baseline": baseline_missing_rate,
            "captured": captured_missing,
            "change": None
            if captured_missing is None
            else captured_missing - baseline_missing_rate,
        },
    }


def _bins(labels: Sequence[str], baseline: Sequence[int], captured: np.ndarray) -> dict[str, Any]:
    return {
        "labels": list(labels),
        "baseline": [int(n) for n in baseline],
        "captured": [int(n) for n in captured],
    }


class DriftTally:
    """Captured rows and predictions counted on a baseline's bins, a batch at a time."""

    def __init__(self, baseline: Mapping[str, Any]) -> None:
        if baseline.get("format") != BASELINE_FORMAT:
            raise BaselineError(
                f"baseline.json format is {baseline.get('format')!r}, expected {BASELINE_FORMAT!r}"
            )
        self.baseline = baseline
        self.columns: dict[str, _NumericTally | _CategoricalTally] = {
            name: (
                _NumericTally(baseline["numeric"][name])
                if name in NUMERIC
                else _CategoricalTally(baseline["categorical"][name])
            )
            for name in FEATURES
        }
        predictions = baseline["predictions"]
        histogram = predictions.get("histogram") or {}
        self.prediction_edges: list[float] = list(histogram.get("edges") or [])
        self.prediction_baseline: list[int] = list(histogram.get("counts") or [])
        self.predictions = np.zeros(len(self.prediction_baseline), dtype=np.int64)
        self.prediction_range = [math.inf, -math.inf]
        self.rows = 0

    def add_rows(self, batch: RawBatch) -> None:
        """Count a decoded request's rows (``codecs.decode``'s batch)."""
        for name, tally in self.columns.items():
            tally.add(batch[name])
        self.rows += len(batch[FEATURES[0]])

    def add_predictions(self, values: Any) -> None:
        """Count the predictions an endpoint answered."""
        values = np.asarray(values, dtype=np.float64)
        values = values[np.isfinite(values)]
        if values.size and self.prediction_edges:
            self.predictions += np.asarray(count_bins(values, self.prediction_edges))
        if values.size:
            self.prediction_range[0] = min(self.prediction_range[0], float(values.min()))
            self.prediction_range[1] = max(self.prediction_range[1], float(values.max()))

    def document(self) -> dict[str, Any]:
        """The drift of each feature, the most drifted first, and of the predictions."""
        features = {name: tally.document() for name, tally in self.columns.items()}
        order = sorted(
            features,
            key=lambda name: (-(features[name]["psi"] or 0.0), FEATURES.index(name)),
        )
        predictions = self.baseline["predictions"]
        score = psi(self.prediction_baseline, self.predictions)
        low, high = self.prediction_range
        return {
            "format": FORMAT,
            "rows": self.rows,
            "threshold": PSI_THRESHOLD,
            "epsilon": EPSILON,
            "few_rows": self.rows < MIN_ROWS,
            "drifted": [name for name in order if features[name]["drift"]],
            "features": {name: features[name] for name in order},
            "predictions": {
                "psi": score,
                "drift": None if score is None else score >= PSI_THRESHOLD,
                "rows": int(self.predictions.sum()),
                "from": predictions.get("from"),
                "range": {
                    "baseline": [self.prediction_edges[0], self.prediction_edges[-1]]
                    if self.prediction_edges
                    else None,
                    "captured": [low, high] if low <= high else None,
                },
                "bins": _bins(
                    bin_labels(self.prediction_edges), self.prediction_baseline, self.predictions
                ),
            },
            "baseline_rows": int(self.baseline["rows"]),
        }
