"""``bigmart transform``: a batch transform job on local folders or S3."""

from __future__ import annotations

import argparse
import sys

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
from bigmart.contract import (
    ASSEMBLE_WITH,
    COMPRESSION_TYPES,
    JOIN_SOURCES,
    LINE,
    SPLIT_TYPES,
    BatchStrategy,
    JobStatus,
)
from bigmart.local.jobs import JobRecord
from bigmart.local.requests import model_request, transform_job_request
from bigmart.local.sagemaker import LocalSageMaker
from bigmart.local.transform.options import TransformOptions


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    transform = commands.add_parser(
        "transform",
        help="run a batch transform job (the real `serve`, SageMaker's batch semantics)",
        description="Options and defaults are CreateTransformJob's. A CSV input's header row "
        "(every cell a Big Mart column name) is detected and not sent; with --join-source "
        "Input it is written to the output with a 'prediction' column added.",
    )
    transform.add_argument(
        "--model", required=True, help="model folder, model.tar.gz, or an s3:// model.tar.gz"
    )
    transform.add_argument("--input", required=True, help="input file, folder or s3:// prefix")
    transform.add_argument("--output", required=True, help="output folder or s3:// prefix")
    transform.add_argument(
        "--name", type=resource_name, help="job name (default: bigmart-transform-<time>-<id>)"
    )
    add_options(transform)
    add_engine_option(transform)
    on_aws.add_placement_options(transform)
    transform.set_defaults(handler=run)


def add_options(parser: argparse.ArgumentParser) -> None:
    """The CreateTransformJob options: the same names and defaults locally and on AWS."""
    parser.add_argument("--content-type", default="text/csv")
    parser.add_argument("--accept", help="response format (default: the server's, text/csv)")
    parser.add_argument("--split-type", choices=SPLIT_TYPES, default=LINE)
    parser.add_argument(
        "--batch-strategy",
        choices=BatchStrategy.ALL,
        help="default: the server's /execution-parameters, else MultiRecord",
    )
    parser.add_argument(
        "--max-payload-mb",
        type=int,
        help="MiB, 0-100; 0 = no limit (default: the server's, else 6)",
    )
    parser.add_argument(
        "--max-concurrent-transforms",
        type=int,
        default=0,
        help="0 = ask the server's /execution-parameters (default)",
    )
    parser.add_argument("--assemble-with", choices=ASSEMBLE_WITH, default=LINE)
    parser.add_argument("--join-source", choices=JOIN_SOURCES, default="None")
    parser.add_argument("--input-filter", default="$", help="JSONPath, e.g. '$[1:]'")
    parser.add_argument("--output-filter", default="$", help="JSONPath, e.g. '$[0,-1]'")
    parser.add_argument(
        "--compression-type",
        choices=COMPRESSION_TYPES,
        default="None",
        help="Gzip input (files ending .gz are read as gzip anyway)",
    )


def options_from(args: argparse.Namespace) -> TransformOptions:
    try:
        return TransformOptions(
            content_type=args.content_type,
            accept=args.accept,
            split_type=args.split_type,
            batch_strategy=args.batch_strategy,
            max_payload_mb=args.max_payload_mb,
            max_concurrent_transforms=args.max_concurrent_transforms,
            assemble_with=args.assemble_with,
            join_source=args.join_source,
            input_filter=args.input_filter,
            output_filter=args.output_filter,
            compression_type=args.compression_type,
        )
    except ValueError as error:
        raise UsageError(str(error)) from None


def run(args: argparse.Namespace) -> int:
    options = options_from(args)
    name = args.name or new_name("bigmart-transform")
    if on_aws.is_remote(args):
        return on_aws.transform(args, name, options)
    backend = LocalSageMaker(store(), engine=args.engine, echo=_echo)
    print(f"Transform job {name}")
    # The model is a SageMaker Model of its own, named after the job (models and jobs
    # have separate names, as on SageMaker), so the job's request names it. A refused
    # request is a RequestRefused: cli.main prints it, exit 2.
    backend.create_model(model_request(name, local_image(args), args.model))
    backend.create_transform_job(
        transform_job_request(name, name, args.input, args.output, options)
    )
    record = backend.store.get(name, "transform")
    assert record is not None  # the backend created it
    _print_outcome(record)
    return 0 if record.status == JobStatus.COMPLETED else 1


def _echo(line: str) -> None:
    echo(f"  | {line}")


def _print_outcome(record: JobRecord) -> None:
    """One line per input object, then the job's status; a failure reason on stderr."""
    for outcome in record.artifacts.get("objects", []):
        detail = (
            f"{outcome['records']:,} records"
            if outcome["status"] == JobStatus.COMPLETED
            else (
                f"line {outcome['line']}: {outcome['reason']}"
                if outcome["line"]
                else str(outcome["reason"])
            )
        )
        print(f"{outcome['status']:9} {outcome['input']} -> {outcome['output']} ({detail})")
    if "records" not in record.metrics:  # it ended before scoring anything
        print(f"status: {record.status}\nfailure reason: {record.failure_reason}", file=sys.stderr)
        return
    print(f"job: {record.name}")
    print(
        f"status: {record.status} ({record.metrics['records']:,} records in "
        f"{record.metrics['seconds']:.1f} s, {record.metrics['records_per_second']:,.0f} records/s)"
    )
    print(f"report: {record.artifacts['report']}")
    if record.status != JobStatus.COMPLETED:
        print(f"failure reason: {record.failure_reason}", file=sys.stderr)
