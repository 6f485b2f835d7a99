"""``bigmart transform``: a batch transform job on local folders or S3."""

from __future__ import annotations

import argparse
import sys

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
from bigmart.local import storage
from bigmart.local.jobs import JobStore, owned_by_me, state_home
from bigmart.local.transform.options import (
    ASSEMBLE_WITH,
    BATCH_STRATEGIES,
    COMPRESSION_TYPES,
    JOIN_SOURCES,
    SPLIT_TYPES,
    TransformOptions,
)


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
    parser.add_argument("--split-type", choices=SPLIT_TYPES, default="Line")
    parser.add_argument(
        "--batch-strategy",
        choices=BATCH_STRATEGIES,
        help="default: the server's /execution-parameters, else MultiRecord",
    )
    parser.add_argument(
        "--max-payload-mb", type=int, help="0-100, 0 = unbounded (default: the server's, else 6)"
    )
    parser.add_argument(
        "--max-concurrent-transforms",
        type=int,
        default=0,
        help="0 = ask the server's /execution-parameters (default)",
    )
    parser.add_argument("--assemble-with", choices=ASSEMBLE_WITH, default="Line")
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
    from bigmart.local.engines import EngineError
    from bigmart.local.server_process import ServerError
    from bigmart.local.transform.job import run_transform_job

    options = options_from(args)
    name = args.name or new_name("bigmart-transform")
    if on_aws.is_remote(args):
        return on_aws.transform(args, name, options)
    jobs = store()
    parameters = {
        "model": args.model,
        "input": args.input,
        "output": args.output,
        **{k: v for k, v in vars(options).items()},
    }
    try:
        jobs.create(name, "transform", parameters, "InProgress", owner=owned_by_me())
    except ValueError as error:
        raise UsageError(str(error)) from None
    print(f"Transform job {name}")
    try:
        with termination_raises():  # SIGTERM / SIGHUP: the job ends Stopped, its server too
            result = run_transform_job(
                name,
                args.model,
                args.input,
                args.output,
                options,
                report_dir=state_home() / "jobs" / name,
                echo=lambda line: print(f"  | {line}", flush=True),
                engine=args.engine,
                image=local_image(args),
            )
    except (storage.StorageError, ServerError, EngineError, ValueError, OSError) as error:
        return _failed(jobs, name, str(error))
    except Exception as error:  # a defect: the job still ends, and the details are kept
        return _failed(jobs, name, unexpected_failure(name, error))
    except BaseException as error:  # Ctrl-C, or a signal raised as an exception: Stopped
        end_job(jobs, name, "Stopped", interrupted(error))
        raise
    rate = result.records / result.seconds if result.seconds else 0.0
    jobs.update(
        name,
        status=result.status,
        failure_reason=result.failure_reason,
        ended=True,
        metrics={
            "records": result.records,
            "seconds": round(result.seconds, 3),
            "records_per_second": round(rate, 1),
        },
        artifacts={
            "outputs": [o.output for o in result.outcomes if o.status == "Completed"],
            "report": str(result.report),
        },
    )
    for outcome in result.outcomes:
        detail = (
            f"{outcome.records:,} records"
            if outcome.status == "Completed"
            else (f"line {outcome.line}: {outcome.reason}" if outcome.line else str(outcome.reason))
        )
        print(f"{outcome.status:9} {outcome.input} -> {outcome.output} ({detail})")
    print(f"job: {name}")
    print(
        f"status: {result.status} ({result.records:,} records in {result.seconds:.1f} s, "
        f"{rate:,.0f} records/s)"
    )
    print(f"report: {result.report}")
    if result.status != "Completed":
        print(f"failure reason: {result.failure_reason}", file=sys.stderr)
        return 1
    return 0


def _failed(jobs: JobStore, name: str, reason: str) -> int:
    """End the job Failed with a one-line reason, printed as such."""
    reason = end_job(jobs, name, "Failed", reason)
    print(f"status: Failed\nfailure reason: {reason}", file=sys.stderr)
    return 1
