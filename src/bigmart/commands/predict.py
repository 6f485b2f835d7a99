"""``bigmart predict``: score a CSV in-process, no server."""

from __future__ import annotations

import argparse
from pathlib import Path

from bigmart.commands import UsageError


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    predict = commands.add_parser("predict", help="score a CSV file with a model, no server")
    predict.add_argument("--model", type=Path, required=True, help="model folder or model.tar.gz")
    predict.add_argument(
        "--input",
        type=Path,
        required=True,
        help="CSV with a header row (the target column may be present)",
    )
    predict.add_argument(
        "--output",
        type=Path,
        required=True,
        help="CSV to write: one prediction per line, in input order",
    )
    predict.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from bigmart.artifact import ArtifactError
    from bigmart.batch_predict import predict_csv

    try:
        rows = predict_csv(args.model, args.input, args.output)
    except ArtifactError as error:
        raise UsageError(f"--model: {error}") from None
    print(f"wrote {rows:,} predictions to {args.output}")
    return 0
