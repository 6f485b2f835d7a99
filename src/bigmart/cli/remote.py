"""The same commands, run on SageMaker: ``--instance-type ml.…`` instead of ``local``.

Each function here is the AWS branch of a local command, with the same inputs; it turns
any AWS error into one line that says what to do (``aws.explain``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from bigmart.cli import UsageError
from bigmart.cli.common import positive_int, store
from bigmart.local import storage
from bigmart.local.jobs import JobRecord
from bigmart.local.transform.options import TransformOptions

if TYPE_CHECKING:  # boto3 is imported only when a command goes to AWS
    from bigmart.aws.records import JobOutcome

LOCAL = "local"
#: The job store's kinds that are SageMaker jobs (an endpoint is refreshed by its own command).
REMOTE_JOB_KINDS = ("training", "transform")


def add_placement_options(parser: argparse.ArgumentParser, *, wait: bool = True) -> None:
    """Where the job runs: ``local`` (default), or a SageMaker instance type."""
    group = parser.add_argument_group("running on SageMaker (--instance-type ml.…)")
    group.add_argument(
        "--instance-type", default=LOCAL, help="'local' (default: this machine) or e.g. ml.m5.large"
    )
    group.add_argument("--instance-count", type=positive_int, default=1)
    group.add_argument("--role", help="SageMaker execution role ARN")
    group.add_argument("--image", help="the image URI in ECR (see: bigmart image push)")
    group.add_argument("--region", help="AWS region (default: boto3's configuration)")
    if wait:
        group.add_argument(
            "--wait", action="store_true", help="follow the job's status and log until it ends"
        )


def is_remote(args: argparse.Namespace) -> bool:
    if args.instance_type == LOCAL:
        return False
    if not args.instance_type.startswith("ml."):
        raise UsageError(
            f"--instance-type {args.instance_type!r}: use 'local' or a SageMaker "
            "instance type such as ml.m5.large"
        )
    missing = [f"--{n}" for n in ("role", "image") if not getattr(args, n)]
    if missing:
        raise UsageError(
            f"--instance-type {args.instance_type} runs on SageMaker and needs "
            f"{' and '.join(missing)}"
        )
    return True


@contextmanager
def aws_errors() -> Iterator[None]:
    """AWS failures as one clear line (exit 1), never a traceback."""
    from botocore.exceptions import BotoCoreError, ClientError

    from bigmart import aws

    try:
        yield
    except (ClientError, BotoCoreError, aws.RequestError, aws.ImageError, aws.WaitTimeout) as error:
        raise UsageError(aws.explain(error)) from None


def _s3(value: str | None, option: str) -> str:
    if value is None or not storage.is_s3(value):
        raise UsageError(f"{option} must be an s3:// URI to run on SageMaker (got {value!r})")
    return value


def _clients(args: argparse.Namespace, *names: str) -> list[Any]:
    from bigmart import aws

    session = aws.session(region=args.region)
    return [session.client(name) for name in names]


def _echo(line: str) -> None:
    print(f"  | {line}", flush=True)


def train(args: argparse.Namespace, name: str, hyperparameters: dict[str, str]) -> int:
    from bigmart import aws

    channels = {"training": _s3(args.data, "--data")}
    if args.validation:
        channels["validation"] = _s3(args.validation, "--validation")
    output = _s3(args.output, "--output")
    _check_unused(name)
    with aws_errors():
        request = aws.training_job_request(
            name,
            args.image,
            args.role,
            channels,
            output,
            hyperparameters,
            args.instance_type,
            instance_count=args.instance_count,
            volume_size_gb=args.volume_size,
            max_run_seconds=args.max_run,
            spot=args.spot,
            checkpoint_s3_uri=args.checkpoint_s3_uri,
        )
        sm, logs = _clients(args, "sagemaker", "logs")
        arn = aws.start_training_job(sm, request)
        print(f"training job {name} started on SageMaker: {arn}")
        parameters = {**channels, "output": output, "hyperparameters": hyperparameters}
        _record_start(args, name, "training", arn, parameters)
        return _follow(
            args.wait,
            lambda: aws.wait_for_training_job(sm, logs, name, echo=_echo),
            name,
            "training",
        )


def create_endpoint(args: argparse.Namespace) -> int:
    from bigmart import aws

    model = _s3(args.model, "--model")
    with aws_errors():
        (sm,) = _clients(args, "sagemaker")
        aws.deploy(
            sm,
            args.name,
            args.image,
            model,
            args.role,
            args.instance_type,
            instance_count=args.instance_count,
            capture_s3_uri=args.capture_s3_uri,
        )
        print(f"endpoint {args.name}: Creating on SageMaker ({args.instance_type})")
        try:
            aws.wait_for_endpoint(sm, args.name, echo=_echo)
        except aws.JobFailed as failure:
            raise UsageError(f"endpoint {args.name} failed: {failure.failure_reason}") from None
    store().create(
        args.name,
        "endpoint",
        {
            "model": model,
            "instance_type": args.instance_type,
            "on": "sagemaker",
            "region": args.region,
        },
        "InService",
    )
    print(f"endpoint {args.name}: InService on SageMaker")
    return 0


def invoke_endpoint(args: argparse.Namespace, body: bytes) -> int:
    from bigmart import aws

    with aws_errors():
        (runtime,) = _clients(args, "sagemaker-runtime")
        payload, _ = aws.invoke_endpoint(runtime, args.name, body, args.content_type, args.accept)
    sys.stdout.buffer.write(payload)
    sys.stdout.flush()
    return 0


def delete_endpoint(args: argparse.Namespace) -> int:
    from bigmart import aws

    with aws_errors():
        (sm,) = _clients(args, "sagemaker")
        deleted = aws.delete_endpoint(sm, args.name)
    record = store().get(args.name)
    if record is not None:
        store().update(args.name, status="Deleted", ended=True)
    print(f"deleted on SageMaker: {', '.join(deleted)}")
    return 0


def transform(args: argparse.Namespace, name: str, options: TransformOptions) -> int:
    from bigmart import aws

    model = _s3(args.model, "--model")
    source, output = _s3(args.input, "--input"), _s3(args.output, "--output")
    _check_unused(name)
    with aws_errors():
        sm, logs = _clients(args, "sagemaker", "logs")
        aws.create_model(sm, name, args.image, model, args.role)
        request = aws.transform_job_request(
            name,
            name,
            source,
            output,
            options,
            args.instance_type,
            instance_count=args.instance_count,
        )
        arn = aws.start_transform_job(sm, request)
        print(f"transform job {name} started on SageMaker: {arn}")
        parameters = {"model": model, "input": source, "output": output, **vars(options)}
        _record_start(args, name, "transform", arn, parameters)
        return _follow(
            args.wait,
            lambda: aws.wait_for_transform_job(sm, name, echo=_echo, logs=logs),
            name,
            "transform",
        )


def _check_unused(name: str) -> None:
    """Job names are unique in the job store, as on SageMaker: refuse before sending."""
    if store().get(name) is not None:
        raise UsageError(f"a job or endpoint named {name!r} already exists; choose another --name")


def _record_start(
    args: argparse.Namespace, name: str, kind: str, arn: str, parameters: dict[str, Any]
) -> None:
    """Put the remote job in the local job store, so ``bigmart jobs`` lists it."""
    placement = {
        "on": "sagemaker",
        "arn": arn,
        "region": args.region,
        "instance_type": args.instance_type,
        "instance_count": args.instance_count,
        "image": args.image,
    }
    store().create(name, kind, {**parameters, **placement}, "InProgress")


def _follow(wait: bool, waiter: Callable[[], Any], name: str, kind: str) -> int:
    from bigmart import aws
    from bigmart.aws import records as aws_records

    if not wait:
        print(f"not waiting; see its status with: bigmart jobs show {name}")
        return 0
    try:
        job = waiter()
    except aws.JobFailed as failure:
        _record_outcome(name, aws_records.outcome(kind, failure.description))
        print(
            f"status: {failure.status}\nfailure reason: {failure.failure_reason}", file=sys.stderr
        )
        return 1
    _record_outcome(name, aws_records.outcome(kind, job))
    print("status: Completed")
    return 0


def refresh(record: JobRecord) -> JobRecord:
    """A remote training or transform job still in progress, brought up to date from AWS.

    Anything else is returned as it is; so is the record when AWS cannot be asked (no
    credentials, no network), with a one-line warning on stderr.
    """
    remote = record.parameters.get("on") == "sagemaker"
    if not remote or record.kind not in REMOTE_JOB_KINDS or record.ended is not None:
        return record
    from botocore.exceptions import BotoCoreError, ClientError

    from bigmart import aws
    from bigmart.aws import records as aws_records

    try:
        sm = aws.session(region=record.parameters.get("region")).client("sagemaker")
        job = aws_records.describe(sm, record.kind, record.name)
    except (ClientError, BotoCoreError) as error:
        print(
            f"{record.name}: status not refreshed from SageMaker: {aws.explain(error)}",
            file=sys.stderr,
        )
        return record
    _record_outcome(record.name, aws_records.outcome(record.kind, job))
    return store().get(record.name) or record


def _record_outcome(name: str, outcome: JobOutcome) -> None:
    store().update(
        name,
        status=outcome.status,
        metrics=outcome.metrics or None,
        artifacts=outcome.artifacts or None,
        failure_reason=outcome.failure_reason,
        ended=outcome.ended,
        ended_at=outcome.ended_at,
        created_at=outcome.created_at,
    )
