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
from bigmart.cli.common import echo, positive_int, store
from bigmart.local import storage
from bigmart.local.jobs import JobRecord
from bigmart.local.transform.options import TransformOptions

if TYPE_CHECKING:  # boto3 is imported only when a command goes to AWS
    from bigmart.aws.backend import AwsJobs

LOCAL = "local"


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


def _clients(args: argparse.Namespace, *names: str, region: str | None = None) -> list[Any]:
    from bigmart import aws

    session = aws.session(region=region or args.region)
    return [session.client(name) for name in names]


def _endpoint_region(args: argparse.Namespace) -> str | None:
    """``--region``, else the region the endpoint was created in (its record keeps it), so
    invoke and delete reach it whatever the environment's default region is now."""
    if args.region:
        return str(args.region)
    record = _jobs().store.get(args.name, "endpoint")
    region = record.parameters.get("region") if record else None
    return str(region) if region else None


def _echo(line: str) -> None:
    echo(f"  | {line}")  # a reader gone does not stop following the job to its end


def train(args: argparse.Namespace, name: str, hyperparameters: dict[str, str]) -> int:
    from bigmart import aws

    channels = {"training": _s3(args.data, "--data")}
    if args.validation:
        channels["validation"] = _s3(args.validation, "--validation")
    output = _s3(args.output, "--output")
    with aws_errors():
        _jobs().check_unused(name, "training")
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
        _jobs().started(name, "training", arn, parameters, _placement(args, sm))
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
        arn = aws.deploy(
            sm,
            args.name,
            args.image,
            model,
            args.role,
            args.instance_type,
            instance_count=args.instance_count,
            capture_s3_uri=args.capture_s3_uri,
            capture_percentage=args.capture_percent,
        )
        print(f"endpoint {args.name}: Creating on SageMaker ({args.instance_type})")
        try:
            aws.wait_for_endpoint(sm, args.name, echo=_echo)
        except aws.JobFailed as failure:
            raise UsageError(f"endpoint {args.name} failed: {failure.failure_reason}") from None
    _jobs().endpoint_in_service(args.name, {"model": model, "arn": arn, **_placement(args, sm)})
    print(f"endpoint {args.name}: InService on SageMaker")
    return 0


def invoke_endpoint(args: argparse.Namespace, body: bytes) -> int:
    from bigmart import aws
    from bigmart.cli.common import write_answer

    with aws_errors():
        (runtime,) = _clients(args, "sagemaker-runtime", region=_endpoint_region(args))
        payload, _ = aws.invoke_endpoint(runtime, args.name, body, args.content_type, args.accept)
    write_answer(payload)
    return 0


def delete_endpoint(args: argparse.Namespace) -> int:
    from bigmart import aws

    with aws_errors():
        (sm,) = _clients(args, "sagemaker", region=_endpoint_region(args))
        deleted = aws.delete_endpoint(sm, args.name)
    _jobs().endpoint_deleted(args.name)
    print(f"deleted on SageMaker: {', '.join(deleted)}")
    return 0


def transform(args: argparse.Namespace, name: str, options: TransformOptions) -> int:
    from bigmart import aws

    model = _s3(args.model, "--model")
    source, output = _s3(args.input, "--input"), _s3(args.output, "--output")
    with aws_errors():
        _jobs().check_unused(name, "transform")
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
        _jobs().started(name, "transform", arn, parameters, _placement(args, sm))
        return _follow(
            args.wait,
            lambda: aws.wait_for_transform_job(sm, name, echo=_echo, logs=logs),
            name,
            "transform",
        )


def _jobs() -> AwsJobs:
    from bigmart.aws.backend import AwsJobs

    return AwsJobs(store())


def _placement(args: argparse.Namespace, sm: Any) -> dict[str, Any]:
    """Where a remote job runs, kept in its record: the region is the one the SageMaker
    client ``sm`` resolved (``--region`` or boto3's configuration), so a later refresh asks
    the same region whatever the environment says then."""
    return {
        "region": sm.meta.region_name,
        "instance_type": args.instance_type,
        "instance_count": args.instance_count,
        "image": args.image,
    }


def _follow(wait: bool, waiter: Callable[[], Any], name: str, kind: str) -> int:
    if not wait:
        print(f"not waiting; see its status with: bigmart jobs show {name}")
        return 0
    failure = _jobs().follow(name, kind, waiter)
    if failure is not None:
        print(
            f"status: {failure.status}\nfailure reason: {failure.failure_reason}", file=sys.stderr
        )
        return 1
    print("status: Completed")
    return 0


def refresh(record: JobRecord) -> JobRecord:
    """A remote training or transform job still in progress, brought up to date from AWS.

    Anything else is returned as it is; so is the record when AWS cannot be asked (no
    credentials, no network), with a one-line warning on stderr.
    """
    if record.parameters.get("on") != "sagemaker" or record.ended is not None:
        return record
    from botocore.exceptions import BotoCoreError, ClientError

    from bigmart import aws

    try:
        return _jobs().refresh(
            record, lambda region: aws.session(region=region).client("sagemaker")
        )
    except (ClientError, BotoCoreError) as error:
        print(
            f"{record.name}: status not refreshed from SageMaker: {aws.explain(error)}",
            file=sys.stderr,
        )
        return record


def describe(record: JobRecord) -> dict[str, Any] | None:
    """SageMaker's Describe answer for a job run there (None for a local one)."""
    if record.parameters.get("on") != "sagemaker":
        return None
    from bigmart import aws
    from bigmart.aws import records as aws_records

    with aws_errors():
        sm = aws.session(region=record.parameters.get("region")).client("sagemaker")
        answer = aws_records.describe(sm, record.kind, record.name)
    answer.pop("ResponseMetadata", None)
    return answer
