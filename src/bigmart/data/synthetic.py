"""Synthetic Big Mart rows, for users without the data and for tests and benchmarks.

The rows carry the real data's quirks (missing weights and outlet sizes, five fat-content
spellings, zero visibilities, the same items sold in several of 10 outlets) and a target
that depends on the features plus noise, so a model has something to learn. Output is
deterministic for a seed and streamed in chunks: memory does not grow with the row count.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from bigmart.schema import TRAINING_COLUMNS

CHUNK_ROWS = 5_000  # small enough that 10,000 rows already use whole chunks
CATALOGUE_SIZE = 1_559  # as many items as the real data has


@dataclass(frozen=True)
class Outlet:
    identifier: str
    year: int
    size: str | None  # None: this outlet never reports its size, as three real ones do
    location: str
    kind: str
    sales_factor: float


OUTLETS: tuple[Outlet, ...] = (
    Outlet("OUT010", 1998, None, "Tier 3", "Grocery Store", 0.15),
    Outlet("OUT013", 1987, "High", "Tier 3", "Supermarket Type1", 1.0),
    Outlet("OUT017", 2007, None, "Tier 2", "Supermarket Type1", 1.05),
    Outlet("OUT018", 2009, "Medium", "Tier 3", "Supermarket Type2", 0.85),
    Outlet("OUT019", 1985, "Small", "Tier 1", "Grocery Store", 0.15),
    Outlet("OUT027", 1985, "Medium", "Tier 3", "Supermarket Type3", 1.6),
    Outlet("OUT035", 2004, "Small", "Tier 2", "Supermarket Type1", 1.05),
    Outlet("OUT045", 2002, None, "Tier 2", "Supermarket Type1", 0.98),
    Outlet("OUT046", 1997, "Small", "Tier 1", "Supermarket Type1", 0.98),
    Outlet("OUT049", 1999, "Medium", "Tier 1", "Supermarket Type1", 1.03),
)
ITEM_TYPES: dict[str, tuple[str, ...]] = {
    "FD": (
        "Fruits and Vegetables",
        "Snack Foods",
        "Frozen Foods",
        "Dairy",
        "Canned",
        "Baking Goods",
        "Meat",
        "Breads",
        "Starchy Foods",
        "Breakfast",
        "Seafood",
    ),
    "DR": ("Soft Drinks", "Hard Drinks", "Dairy"),
    "NC": ("Household", "Health and Hygiene", "Others"),
}
LOW_FAT_SPELLINGS = ("Low Fat", "Low Fat", "Low Fat", "LF", "low fat")
REGULAR_SPELLINGS = ("Regular", "Regular", "reg")
MISSING_WEIGHT_RATE = 0.17
ZERO_VISIBILITY_RATE = 0.06


@dataclass(frozen=True)
class Catalogue:
    """Per-item facts that stay the same in every outlet (as in the real data)."""

    identifiers: np.ndarray
    weights: np.ndarray
    low_fat: np.ndarray
    types: np.ndarray
    mrps: np.ndarray
    visibilities: np.ndarray
    appeal: np.ndarray


def make_catalogue(rng: np.random.Generator, size: int = CATALOGUE_SIZE) -> Catalogue:
    prefixes = rng.choice(["FD", "DR", "NC"], size=size, p=[0.72, 0.09, 0.19])
    letters = rng.choice(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), size=size)
    # The index keeps identifiers unique, so an item's weight is the same in every row.
    identifiers = np.array(
        [f"{p}{c}{i:02d}" for i, (p, c) in enumerate(zip(prefixes, letters, strict=True))]
    )
    types = np.array([rng.choice(ITEM_TYPES[p]) for p in prefixes])
    return Catalogue(
        identifiers=identifiers,
        weights=np.round(rng.uniform(4.5, 21.5, size), 3),
        low_fat=rng.random(size) < 0.65,
        types=types,
        mrps=np.round(rng.uniform(31.0, 267.0, size), 4),
        visibilities=rng.gamma(2.0, 0.033, size).clip(0.004, 0.33),
        appeal=rng.lognormal(0.0, 0.25, size),
    )


def iter_rows(rows: int, seed: int) -> Iterator[list[list[object]]]:
    """Chunks of synthetic rows in the training layout (features, then the target)."""
    rng = np.random.default_rng(seed)
    catalogue = make_catalogue(rng)
    remaining = rows
    while remaining > 0:
        count = min(CHUNK_ROWS, remaining)
        remaining -= count
        yield _chunk(rng, catalogue, count)


def _chunk(rng: np.random.Generator, cat: Catalogue, count: int) -> list[list[object]]:
    items = rng.integers(0, len(cat.identifiers), count)
    outlets = rng.integers(0, len(OUTLETS), count)
    weight_missing = rng.random(count) < MISSING_WEIGHT_RATE
    zero_visibility = rng.random(count) < ZERO_VISIBILITY_RATE
    visibility_noise = rng.lognormal(0.0, 0.15, count)
    spelling = rng.random(count)
    noise = rng.lognormal(0.0, 0.35, count)
    chunk = []
    for row in range(count):
        item, outlet = int(items[row]), OUTLETS[int(outlets[row])]
        mrp = float(cat.mrps[item])
        visibility = (
            0.0
            if zero_visibility[row]
            else float(cat.visibilities[item]) * float(visibility_noise[row])
        )
        spellings = LOW_FAT_SPELLINGS if cat.low_fat[item] else REGULAR_SPELLINGS
        fat = spellings[int(spelling[row] * len(spellings))]
        sales = 15.0 * mrp * outlet.sales_factor * float(cat.appeal[item]) * float(noise[row])
        chunk.append(
            [
                str(cat.identifiers[item]),
                "" if weight_missing[row] else f"{cat.weights[item]:g}",
                fat,
                f"{visibility:.9f}".rstrip("0").rstrip(".") if visibility else "0",
                str(cat.types[item]),
                f"{mrp:g}",
                outlet.identifier,
                outlet.year,
                outlet.size or "",
                outlet.location,
                outlet.kind,
                f"{sales:.4f}",
            ]
        )
    return chunk


def write_csv(
    output: str | os.PathLike[str] | IO[str], rows: int, seed: int, *, with_target: bool = True
) -> int:
    """Write ``rows`` synthetic rows with a header to a path (``.gz`` compresses) or a text
    stream; return the number written."""
    if isinstance(output, (str, os.PathLike)):
        path = Path(output)
        path.parent.mkdir(parents=True, exist_ok=True)
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "wt", newline="", encoding="utf-8") as handle:
            return write_csv(handle, rows, seed, with_target=with_target)
    writer = csv.writer(output, lineterminator="\n")
    header = list(TRAINING_COLUMNS)
    writer.writerow(header if with_target else header[:-1])
    written = 0
    for chunk in iter_rows(rows, seed):
        writer.writerows(chunk if with_target else (r[:-1] for r in chunk))
        written += len(chunk)
    return written


def csv_text(rows: int, seed: int, *, with_target: bool = True) -> str:
    """Small synthetic files as a string, for tests and demos."""
    buffer = io.StringIO()
    write_csv(buffer, rows, seed, with_target=with_target)
    return buffer.getvalue()
