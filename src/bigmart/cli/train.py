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
    end_job,
    interrupted,
    local_image,
    new_name,
    resource_name,
    store,
    termination_raises,
    unexpected_failure,
)
from bigmart.clipping import describe
from bigmart.data import synthetic as synth
from bigmart.local import storage
from bigmart.local.engines import EngineError
from bigmart.local.jobs import JobStoreError, owned_by_me, state_home
from bigmart.local.training import TrainingJobResult, run_training_job
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
    remote_output = storage.is_s3(args.output)
    # An S3 job is staged in the state folder, then its artifacts are uploaded.
    job_dir = (state_home() / "jobs" / name) if remote_output else Path(args.output) / name
    if job_dir.exists():
        raise UsageError(f"job folder {job_dir} already exists; choose another --name")
    jobs = store()
    try:
        jobs.create(
            name,
            "training",
            {
                "data": args.data,
                "validation": args.validation,
                "output": args.output,
                "hyperparameters": hyperparameters,
            },
            "InProgress",
            owner=owned_by_me(),  # killed outright, a reader finds it gone: Failed
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    # From here the record exists, so it ends whatever happens: Completed or Failed as the
    # job says, Failed with a one-line reason for any error (a download, the disk, an
    # upload, a bug), Stopped for Ctrl-C, SIGTERM or SIGHUP (raised by termination_raises).
    try:
        with termination_raises():
            result, artifacts = _run_local(args, name, job_dir, hyperparameters)
            jobs.update(
                name,
                status=result.status,
                metrics=result.metrics,
                artifacts=artifacts,
                failure_reason=result.failure_reason,
                ended=True,
            )
    except (UsageError, EngineError) as error:  # refused as given: exit 2, as before
        end_job(jobs, name, "Failed", str(error))
        raise UsageError(str(error)) from None
    except JobStoreError:
        raise  # the record cannot be written: cli.main prints the one line
    except (storage.StorageError, ValueError, OSError) as error:
        reason = end_job(jobs, name, "Failed", describe(error))
        _print_failed(reason)
        return 1
    except Exception as error:  # a defect: the job still ends, and the details are kept
        reason = end_job(jobs, name, "Failed", unexpected_failure(name, error))
        _print_failed(reason)
        return 1
    except BaseException as error:  # Ctrl-C, or a signal raised as an exception: Stopped
        end_job(jobs, name, "Stopped", interrupted(error))
        raise
    print(f"job: {result.name}")
    print(f"status: {result.status} ({result.seconds:.1f} s)")
    for metric, value in sorted(result.metrics.items()):
        # metrics.json holds null for an undefined metric (R² of a one-row validation set)
        print(f"metric: {format_metric(metric, math.nan if value is None else value)}")
    if result.status != "Completed":
        print(f"failure reason: {result.failure_reason}", file=sys.stderr)
        return 1
    print(f"model: {artifacts['model']}")
    return 0


def _run_local(
    args: argparse.Namespace, name: str, job_dir: Path, hyperparameters: dict[str, str]
) -> tuple[TrainingJobResult, dict[str, str]]:
    """The job's work: its channels, ``train``, and its artifacts (uploaded to an S3
    output). Returns the result and where the artifacts are."""
    try:
        channels = _channels(args, job_dir)
    except storage.StorageError as error:  # the data cannot be read: exit 2, as before
        raise UsageError(str(error)) from None
    print(f"Training job {name}: {job_dir}")
    result = run_training_job(
        name,
        job_dir,
        channels,
        hyperparameters,
        echo=lambda line: print(f"  | {line}", flush=True),
        engine=args.engine,
        image=local_image(args),
    )
    artifacts: dict[str, str] = {}
    if result.status == "Completed" and result.model_archive is not None:
        artifacts = {
            "model": str(result.model_archive),
            "output": str(result.model_archive.with_name("output.tar.gz")),
        }
        if storage.is_s3(args.output):
            prefix = storage.join(args.output, f"{name}/output")
            for key, path in list(artifacts.items()):
                destination = storage.join(prefix, Path(path).name)
                storage.upload_file(path, destination)
                artifacts[key] = destination
    return result, artifacts


def _print_failed(reason: str) -> None:
    """As a job that failed on its own: the status on stdout, the reason (one line) on
    stderr."""
    print("status: Failed", flush=True)
    print(f"failure reason: {reason}", file=sys.stderr)


def _channels(args: argparse.Namespace, job_dir: Path) -> dict[str, Path]:
    """Each channel as a local path; S3 channels are downloaded keeping the key tree."""
    channels: dict[str, Path] = {}
    sources = {"training": args.data, "validation": args.validation}
    for channel, source in sources.items():
        if source is None:
            continue
        if storage.is_s3(source):
            target = job_dir / "downloads" / channel
            storage.download_tree(source, target)
            channels[channel] = target
        elif Path(source).exists():
            channels[channel] = Path(source)
        else:
            raise UsageError(
                f"--{'data' if channel == 'training' else channel} {source}: no such file or folder"
            )
    if "training" not in channels:
        data = job_dir / "synthetic" / "train.csv"
        synth.write_csv(data, SYNTHETIC_ROWS, seed=0)
        print(
            f"No --data given: training on {SYNTHETIC_ROWS:,} synthetic Big Mart rows "
            "(bigmart synth). For real data: bigmart train --data train.csv"
        )
        channels["training"] = data
    return channels
