"""Fit the seed recipe on a training CSV and pickle the model for the seed server.

Usage::

    python -m benchmarks.baselines.seed_server.train_seed_model \
        --data TRAIN_CSV --model-dir DIR [--random-state N]

Writes into DIR:

- ``seed-random-forest.pkl``: the fitted ``RandomForestRegressor(n_estimators=500)``,
  pickled with ``pickle`` as in the AWS example;
- ``request-1.csv`` and ``request-1000.csv``: bodies for ``POST /invocations`` -- the
  first 1 and 1,000 rows of the training data as encoded feature rows (no header, no
  target; repeated cyclically if the data has fewer than 1,000 rows).
"""

from __future__ import annotations

import argparse
import pickle
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.baselines.seed_recipe import TARGET, seed_clean, seed_encode, seed_model
from benchmarks.baselines.seed_server.predictor import MODEL_FILE

REQUEST_SIZES: tuple[int, ...] = (1, 1000)


def write_request(features: np.ndarray, rows: int, path: Path) -> None:
    """Write ``rows`` encoded feature rows as a header-less CSV request body."""
    body = np.resize(features, (rows, features.shape[1]))
    pd.DataFrame(body).to_csv(path, header=False, index=False)


def train(data: Path, model_dir: Path, random_state: int | None = None) -> dict[str, float]:
    """Fit the seed recipe on ``data``, pickle it into ``model_dir``, write sample requests.

    The forest is fitted with ``n_jobs=-1`` for speed, then ``n_jobs`` is reset to None
    before pickling so the served model predicts exactly like the seed's default
    (single-threaded) ``RandomForestRegressor(n_estimators=500)``.
    """
    cleaned = seed_clean(pd.read_csv(data))
    features = seed_encode(cleaned)
    target = cleaned[TARGET].to_numpy(dtype=float)

    model = seed_model(random_state=random_state)
    start = time.perf_counter()
    model.fit(features, target)
    fit_seconds = time.perf_counter() - start
    model.set_params(n_jobs=None)

    model_dir.mkdir(parents=True, exist_ok=True)
    payload = pickle.dumps(model)
    (model_dir / MODEL_FILE).write_bytes(payload)
    for rows in REQUEST_SIZES:
        write_request(features, rows, model_dir / f"request-{rows}.csv")
    return {"rows": float(len(features)), "fit_seconds": fit_seconds, "pickle_bytes": len(payload)}


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="training CSV with the target")
    parser.add_argument("--model-dir", type=Path, required=True, help="where to write the model")
    parser.add_argument("--random-state", type=int, default=None, help="forest seed (default none)")
    args = parser.parse_args(argv)
    stats = train(args.data, args.model_dir, args.random_state)
    print(
        f"fitted on {stats['rows']:.0f} rows in {stats['fit_seconds']:.1f}s; "
        f"wrote {args.model_dir / MODEL_FILE} ({stats['pickle_bytes']:,} bytes)"
    )


if __name__ == "__main__":
    main()
