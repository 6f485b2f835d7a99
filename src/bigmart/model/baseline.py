"""The training data's profile, stored in the model as ``baseline.json`` for drift checks.

A drift report compares what an endpoint was asked with what the model learned from. The
requests it reads are raw rows (as a client sends them), so the profile describes the
training rows the same way: as ``bigmart.schema`` parses them (text trimmed, missing text
as missing), before the fitted cleaning. Comparing cleaned values would hide what a client
changed (a new fat-content spelling, a zero visibility) behind the fills.

Numeric columns get fixed bins whose edges are stored: the training deciles, so each bin
holds about a tenth of the rows and a population stability index (PSI) over them is
well-conditioned. The outer bins are open (``count_bins``): a value past the training
range counts in the first or last bin, so a shifted column moves mass there. Missing
values are counted apart (``missing_rate``), never in a bin.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from bigmart.schema import FEATURES, NUMERIC, RawBatch

FORMAT = "bigmart-baseline/1"
#: Quantiles stored per numeric column (and for the predictions).
QUANTILES = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)
#: Bins per numeric column (fewer when values repeat: equal edges are merged).
BINS = 10
#: Categories kept per column, the most frequent first; the rest are summed in ``other``
#: (Big Mart has 1,559 items; this bounds the file for data with millions of ids).
MAX_CATEGORIES = 5_000


def profile(batch: RawBatch, predictions: np.ndarray, *, predictions_from: str) -> dict[str, Any]:
    """The baseline document: each raw feature column of ``batch`` and the distribution
    of ``predictions`` (``predictions_from`` says which rows they scored)."""
    rows = len(batch[FEATURES[0]])
    numeric = {name: numeric_profile(batch[name]) for name in FEATURES if name in NUMERIC}
    categorical = {
        name: categorical_profile(batch[name]) for name in FEATURES if name not in NUMERIC
    }
    return {
        "format": FORMAT,
        "rows": rows,
        "describes": "training rows as parsed (raw values, before the fitted cleaning)",
        "bins": "edges e0..ek give k bins [e_i, e_i+1); the first and last are open-ended",
        "numeric": numeric,
        "categorical": categorical,
        "predictions": {"from": predictions_from, **numeric_profile(predictions)},
    }


def numeric_profile(values: np.ndarray) -> dict[str, Any]:
    """Missing count and rate, quantiles, and a histogram on the deciles of the values."""
    values = np.asarray(values, dtype=np.float64)
    present = values[~np.isnan(values)]
    document: dict[str, Any] = {
        "rows": int(values.size),
        "missing": int(values.size - present.size),
        "missing_rate": _rate(values.size - present.size, values.size),
    }
    if present.size == 0:
        document.update(quantiles={}, histogram={"edges": [], "counts": []})
        return document
    quantiles = np.quantile(present, QUANTILES)
    edges = bin_edges(present)
    document["quantiles"] = {
        _key(q): float(v) for q, v in zip(QUANTILES, quantiles.tolist(), strict=True)
    }
    document["histogram"] = {"edges": edges, "counts": count_bins(present, edges)}
    return document


def categorical_profile(labels: Sequence[str | None]) -> dict[str, Any]:
    """Missing count and rate, and each category's count (at most ``MAX_CATEGORIES``)."""
    counts = Counter(label for label in labels if label is not None)
    present = sum(counts.values())
    kept = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:MAX_CATEGORIES]
    return {
        "rows": len(labels),
        "missing": len(labels) - present,
        "missing_rate": _rate(len(labels) - present, len(labels)),
        "counts": dict(kept),
        "other": present - sum(count for _, count in kept),
    }


def bin_edges(values: np.ndarray, bins: int = BINS) -> list[float]:
    """Edges at the quantiles 0, 1/bins, ..., 1 of ``values`` (non-missing), each an
    observed value (numpy's "lower" quantile), equal edges merged; one value gives
    ``[v, v]`` (one bin)."""
    edges = np.unique(np.quantile(values, np.arange(bins + 1) / bins, method="lower"))
    if edges.size == 1:
        edges = np.repeat(edges, 2)
    return [float(edge) for edge in edges]


def count_bins(values: np.ndarray, edges: Sequence[float]) -> list[int]:
    """How many of ``values`` (missing ones left out) fall in each bin of ``edges``.

    Bin i is [edges[i], edges[i+1]), the last also holding edges[-1]; the first bin also
    takes every value below edges[0] and the last every value above edges[-1], so values
    outside the training range are counted, at the ends. The drift report bins captured
    requests with this same function.
    """
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    bins = len(edges) - 1
    if bins < 1:
        return []
    index = np.searchsorted(np.asarray(edges[1:-1], dtype=np.float64), values, side="right")
    return [int(count) for count in np.bincount(index, minlength=bins)]


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _key(quantile: float) -> str:
    return f"{quantile:g}"
