"""``bigmart train``: a training job on local folders or S3."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from bigmart.cli import UsageError
from bigmart.cli import remote as on_aws
from bigmart.cli.common import (
    add_engine_option,
    echo,
    local_image,
    new_name,
    resource_name,
    store,
)
from bigmart.contract import JobStatus
from bigmart.data import synthetic as synth
from bigmart.files import replacing
from bigmart.local import storage
from bigmart.local.jobs import JobRecord, state_home
from bigmart.local.reports import local_report
from bigmart.local.requests import training_job_request
from bigmart.local.sagemaker import LocalSageMaker
from bigmart.model.hyperparameters import HyperParameters, valid_names
from bigmart.model.metrics import format_metric

SYNTHETIC_ROWS = 8_523  # as many rows as the real training file


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    train = commands.add_parser(
        "train",
        help="run a training job (the real `train` program on a SageMaker-shaped job folder)",
        epilog=f"Hyper-parameters: {valid_names()}",
    )
    train.add_argument(
        "--data", help="training CSV file, folder or s3:// prefix (default: synthetic rows)"
    )
    train.add_argument("--validation", help="validation CSV file, folder or s3:// prefix")
    train.add_argument(
        "--hp",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a hyper-parameter (repeatable)",
    )
    train.add_argument(
        "--output",
        default="runs",
        help="where job folders go: a folder or an s3:// prefix (default: runs/)",
    )
    train.add_argument(
        "--name", type=resource_name, help="job name (default: bigmart-train-<time>-<id>)"
    )
    add_engine_option(train)
    on_aws.add_placement_options(train)
    sagemaker = train.add_argument_group("SageMaker training options")
    sagemaker.add_argument("--max-run", type=int, default=86_400, help="seconds (MaxRuntime)")
    sagemaker.add_argument("--volume-size", type=int, default=30, help="GB of EBS storage")
    sagemaker.add_argument("--spot", action="store_true", help="managed spot training")
    sagemaker.add_argument("--checkpoint-s3-uri", help="checkpoints synced to this S3 URI")
    train.set_defaults(handler=run)


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


def run(args: argparse.Namespace) -> int:
    hyperparameters = parse_hp(args.hp)
    name = args.name or new_name("bigmart-train")
    if on_aws.is_remote(args):
        return on_aws.train(args, name, hyperparameters)
    request = training_job_request(
        name, local_image(args), _channels(args), args.output, hyperparameters
    )
    backend = LocalSageMaker(store(), engine=args.engine, echo=lambda line: _echo(name, line))
    backend.create_training_job(request)
    record = backend.store.get(name, "training")
    assert record is not None  # the backend created it
    _print_outcome(record)
    return 0 if record.status == JobStatus.COMPLETED else 1


def _echo(name: str, line: str) -> None:
    """The job's log as it runs: the backend's own lines plain, ``train``'s indented."""
    echo(line if line.startswith(f"Training job {name}:") else f"  | {line}")


def _print_outcome(record: JobRecord) -> None:
    """Status, time and metrics on stdout; a failure reason (one line) on stderr."""
    shown = record.as_dict()
    seconds = f" ({shown['seconds']:.1f} s)" if shown["seconds"] is not None else ""
    print(f"job: {record.name}")
    print(f"status: {record.status}{seconds}")
    for metric, value in sorted(record.metrics.items()):
        # metrics.json holds null for an undefined metric (R² of a one-row validation set)
        print(f"metric: {format_metric(metric, math.nan if value is None else value)}")
    if record.status != JobStatus.COMPLETED:
        print(f"failure reason: {record.failure_reason}", file=sys.stderr)
        return
    print(f"model: {record.artifacts['model']}")
    report = local_report(record, state_home())
    if report is not None:
        print(f"report: {report}")


def _channels(args: argparse.Namespace) -> dict[str, str]:
    """Each channel's location as given; local paths must exist. No ``--data``: synthetic
    rows of the real file's shape, written once to the state folder."""
    channels: dict[str, str] = {}
    sources = {"training": args.data, "validation": args.validation}
    for channel, source in sources.items():
        if source is None:
            continue
        if not storage.is_s3(source) and not Path(source).exists():
            raise UsageError(
                f"--{'data' if channel == 'training' else channel} {source}: no such file or folder"
            )
        channels[channel] = source
    if "training" not in channels:
        data = state_home() / "synthetic" / f"train-{SYNTHETIC_ROWS}.csv"
        if not data.exists():  # written whole, so a concurrent job never reads half of it
            with replacing(data, "w", newline="", encoding="utf-8") as handle:
                synth.write_csv(handle, SYNTHETIC_ROWS, seed=0)
        print(
            f"No --data given: training on {SYNTHETIC_ROWS:,} synthetic Big Mart rows "
            "(bigmart synth). For real data: bigmart train --data train.csv"
        )
        channels["training"] = str(data)
    return channels
