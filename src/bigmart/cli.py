"""The ``bigmart`` command: local SageMaker-style jobs, prediction and synthetic data."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bigmart.hyperparameters import HyperParameterError, HyperParameters, valid_names
from bigmart.schema import SchemaError

SYNTHETIC_ROWS = 8_523  # as many rows as the real training file


class UsageError(Exception):
    """A command-line mistake: printed as one line, exit code 2."""


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.handler(args)
    except (UsageError, SchemaError, HyperParameterError) as error:
        print(f"bigmart: error: {error}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bigmart",
        description="Train, serve and batch-score Big Mart sales models the SageMaker way, "
        "locally or on AWS.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="run a training job (the real `train` program on a SageMaker-shaped job folder)",
        epilog=f"Hyper-parameters: {valid_names()}",
    )
    train.add_argument(
        "--data", type=Path, help="training CSV file or folder (default: synthetic Big Mart rows)"
    )
    train.add_argument("--validation", type=Path, help="validation CSV file or folder")
    train.add_argument(
        "--hp",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a hyper-parameter (repeatable)",
    )
    train.add_argument(
        "--output", type=Path, default=Path("runs"), help="where job folders go (default: runs/)"
    )
    train.add_argument("--name", help="job name (default: bigmart-train-<time>-<id>)")
    train.set_defaults(handler=run_train)

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
    predict.set_defaults(handler=run_predict)

    serve = commands.add_parser(
        "serve", help="serve a model locally exactly as the endpoint container does"
    )
    serve.add_argument("--model", type=Path, required=True, help="model folder or model.tar.gz")
    serve.add_argument("--port", type=int, help="port (default: $SAGEMAKER_BIND_TO_PORT or 8080)")
    serve.add_argument("--workers", type=int, help="worker processes (default: one per core)")
    serve.set_defaults(handler=run_serve)

    synth = commands.add_parser("synth", help="write synthetic Big Mart rows")
    synth.add_argument("--rows", type=int, default=SYNTHETIC_ROWS)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--output", type=Path, required=True, help="CSV file (.gz compresses)")
    synth.add_argument(
        "--no-target",
        action="store_true",
        help="leave out Item_Outlet_Sales (rows to score, like test.csv)",
    )
    synth.set_defaults(handler=run_synth)
    return parser


def parse_hp(pairs: Sequence[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings to SageMaker's all-string hyper-parameters, checked now so a
    typo fails before a job is laid out."""
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--hp {pair!r}: expected KEY=VALUE")
        values[key.strip()] = value.strip()
    HyperParameters.from_strings(values)
    return values


def run_train(args: argparse.Namespace) -> int:
    from bigmart import synth
    from bigmart.workflow.training_job import new_job_name, run_training_job

    hyperparameters = parse_hp(args.hp)
    name = args.name or new_job_name()
    job_dir = args.output / name
    if job_dir.exists():
        raise UsageError(f"job folder {job_dir} already exists; choose another --name")
    data = args.data
    if data is None:
        data = job_dir / "synthetic" / "train.csv"
        synth.write_csv(data, SYNTHETIC_ROWS, seed=0)
        print(
            f"No --data given: training on {SYNTHETIC_ROWS:,} synthetic Big Mart rows "
            f"(bigmart synth). For real data: bigmart train --data train.csv"
        )
    elif not data.exists():
        raise UsageError(f"--data {data}: no such file or folder")
    channels = {"training": data}
    if args.validation is not None:
        if not args.validation.exists():
            raise UsageError(f"--validation {args.validation}: no such file or folder")
        channels["validation"] = args.validation
    print(f"Training job {name}: {job_dir}")
    result = run_training_job(
        name, job_dir, channels, hyperparameters, echo=lambda line: print(f"  | {line}", flush=True)
    )
    print(f"job: {result.name}")
    print(f"status: {result.status} ({result.seconds:.1f} s)")
    for metric, value in sorted(result.metrics.items()):
        print(f"metric: {metric}={value:.4f}")
    if result.status != "Completed":
        print(f"failure reason: {result.failure_reason}", file=sys.stderr)
        return 1
    print(f"model: {result.model_archive}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from bigmart.artifact import ArtifactError
    from bigmart.batch_predict import predict_csv

    try:
        rows = predict_csv(args.model, args.input, args.output)
    except ArtifactError as error:
        raise UsageError(f"--model: {error}") from None
    print(f"wrote {rows:,} predictions to {args.output}")
    return 0


def run_serve(args: argparse.Namespace) -> int:
    """Unpack the model into a temporary ``/opt/ml/model`` and run ``serve`` on it."""
    from bigmart.artifact import ArtifactError, copy_model, opened_model
    from bigmart.container import serve
    from bigmart.container.paths import OptMl

    if args.port is not None:
        os.environ["SAGEMAKER_BIND_TO_PORT"] = str(args.port)
    if args.workers is not None:
        os.environ["SAGEMAKER_MODEL_SERVER_WORKERS"] = str(args.workers)
    with tempfile.TemporaryDirectory(prefix="bigmart-serve-") as root:
        paths = OptMl(Path(root))
        try:
            with opened_model(args.model) as model_dir:
                copy_model(model_dir, paths.model)
        except ArtifactError as error:
            raise UsageError(f"--model: {error}") from None
        serve.configure_logging()
        return serve.run(paths)


def run_synth(args: argparse.Namespace) -> int:
    from bigmart import synth

    if args.rows < 1:
        raise UsageError("--rows must be at least 1")
    written = synth.write_csv(args.output, args.rows, args.seed, with_target=not args.no_target)
    print(f"wrote {written:,} synthetic rows to {args.output}")
    return 0


if __name__ == "__main__":
    main()
