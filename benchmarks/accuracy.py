"""Accuracy, training time and model size: the product's defaults against the seed recipe.

Both run in this one process on the real data with the same 5 folds
(``KFold(5, shuffle=True, random_state=0)``). Run from the repository root:

    .venv/bin/python -m benchmarks.accuracy [--data ../shared/data/bigmart/train.csv]

Targets (issue 2): CV RMSE <= 1,080; training on all rows <= 10 s; model folder <= 10 MB.
Timings are medians of ``--repeats`` full fits (the machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

from benchmarks.baselines.seed_recipe import (
    TARGET,
    seed_clean,
    seed_cv_rmse,
    seed_encode,
    seed_model,
)
from bigmart.data.reading import read_labelled
from bigmart.model import forest as forest_model
from bigmart.model.artifact import ModelArtifact, write_model
from bigmart.model.hyperparameters import HyperParameters

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "bigmart" / "train.csv"


def product_cv(data_path: Path, folds: list[tuple[np.ndarray, np.ndarray]]) -> list[float]:
    data = read_labelled(data_path)
    hp = HyperParameters()
    scores = []
    for train_idx, test_idx in folds:
        train, test = forest_model.take(data, train_idx), forest_model.take(data, test_idx)
        fitted = forest_model.fit(train.features, train.target, hp)
        scores.append(forest_model.evaluate(fitted, test.features, test.target).rmse)
    return scores


def product_fit(data_path: Path) -> tuple[float, int]:
    """Seconds to read, featurize, fit and export on all rows; bytes of the model folder."""
    started = time.perf_counter()
    data = read_labelled(data_path)
    fitted = forest_model.fit(data.features, data.target, HyperParameters())
    onnx = forest_model.to_onnx_bytes(fitted.forest)
    seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        write_model(ModelArtifact(onnx, fitted.featurizer.to_json(), {}), folder)
        size = sum(p.stat().st_size for p in Path(folder).iterdir())
    return seconds, size


def seed_fit(frame: pd.DataFrame) -> tuple[float, int]:
    """Seconds to clean, encode and fit the seed on all rows; bytes of its pickle."""
    started = time.perf_counter()
    cleaned = seed_clean(frame)
    model = seed_model(random_state=0).fit(seed_encode(cleaned), cleaned[TARGET].to_numpy())
    seconds = time.perf_counter() - started
    return seconds, len(pickle.dumps(model))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    frame = pd.read_csv(args.data)
    folds = list(KFold(n_splits=5, shuffle=True, random_state=0).split(np.arange(len(frame))))
    ours_cv = product_cv(args.data, folds)
    seed_scores = seed_cv_rmse(frame, folds, random_state=0)
    ours_fits = [product_fit(args.data) for _ in range(args.repeats)]
    seed_fits = [seed_fit(frame) for _ in range(args.repeats)]

    ours_rmse, seed_rmse = statistics.mean(ours_cv), statistics.mean(seed_scores)
    ours_time = statistics.median(s for s, _ in ours_fits)
    seed_time = statistics.median(s for s, _ in seed_fits)
    ours_size, seed_size = ours_fits[0][1], seed_fits[0][1]
    print(f"data: {args.data} ({len(frame):,} rows), 5 folds, {args.repeats} fits each")
    print(f"{'':24}{'product':>14}{'seed recipe':>14}{'ratio':>10}")
    print(
        f"{'5-fold CV RMSE':24}{ours_rmse:>14.1f}{seed_rmse:>14.1f}{ours_rmse / seed_rmse:>10.3f}"
    )
    print(f"{'  per fold (product)':24}" + " ".join(f"{s:.1f}" for s in ours_cv))
    print(f"{'  per fold (seed)':24}" + " ".join(f"{s:.1f}" for s in seed_scores))
    print(
        f"{'training time (median)':24}{ours_time:>13.2f}s{seed_time:>13.2f}s"
        f"{ours_time / seed_time:>10.3f}"
    )
    print(
        f"{'model size':24}{ours_size / 1e6:>12.2f}MB{seed_size / 1e6:>12.1f}MB"
        f"{ours_size / seed_size:>10.4f}"
    )
    verdicts = {
        "CV RMSE <= 1080": ours_rmse <= 1080,
        "training <= 10 s": ours_time <= 10,
        "model <= 10 MB": ours_size <= 10e6,
    }
    for name, ok in verdicts.items():
        print(f"target {name}: {'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
