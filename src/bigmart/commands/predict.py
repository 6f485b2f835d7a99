"""``bigmart predict``: score a CSV in-process, no server."""

from __future__ import annotations

import argparse
from pathlib import Path

from bigmart.commands import UsageError


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    predict = commands.add_parser("predict", help="score a CSV file with a model, no server")
    # Plain strings, not Path: Path() would print s3://b/k as s3:/b/k in messages.
    predict.add_argument("--model", required=True, help="model folder or model.tar.gz")
    predict.add_argument(
        "--input",
        required=True,
        help="CSV with a header row (the target column may be present)",
    )
    predict.add_argument(
        "--output",
        required=True,
        help="CSV to write: one prediction per line, in input order",
    )
    predict.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from bigmart.artifact import ArtifactError
    from bigmart.batch_predict import predict_csv

    check_paths(args.input, args.output)
    try:
        rows = predict_csv(args.model, args.input, args.output)
    except ArtifactError as error:
        raise UsageError(f"--model: {error}") from None
    print(f"wrote {rows:,} predictions to {args.output}")
    return 0


def check_paths(input_csv: str, output_csv: str) -> None:
    """Refuse an input or output that cannot work before the model is even unpacked."""
    source, destination = Path(input_csv), Path(output_csv)
    if source.is_dir():
        raise UsageError(f"--input {input_csv!r} is a folder; give one CSV file")
    if not source.exists():
        raise UsageError(f"--input {input_csv!r} does not exist")
    if destination.is_dir():
        raise UsageError(
            f"--output {output_csv!r} is a folder; give the CSV file to write, "
            f"e.g. {str(destination / 'predictions.csv')!r}"
        )
    folder = next((p for p in destination.parents if p.exists()), None)
    if folder is not None and not folder.is_dir():
        raise UsageError(f"--output {output_csv!r}: {str(folder)!r} is a file, not a folder")
