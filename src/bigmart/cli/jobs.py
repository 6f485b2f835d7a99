"""``bigmart jobs [show|describe NAME]``: the record of training jobs, transform jobs and
endpoints.

Jobs launched on SageMaker are listed with local ones; those still in progress are
brought up to date from SageMaker as they are shown. ``describe`` prints SageMaker's own
Describe answer, from the backend the job ran on: the local one or AWS, in the same shape.
Names are unique per kind, as on SageMaker, so a training job and an endpoint may share one:
``--kind`` says which to show, and is asked for when the name alone does not.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from bigmart.cli import UsageError
from bigmart.cli import remote as on_aws
from bigmart.cli.common import store
from bigmart.local.jobs import KINDS, LABELS, JobRecord, one
from bigmart.local.sagemaker import LocalSageMaker


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    jobs = commands.add_parser("jobs", help="list jobs and endpoints, or show one")
    jobs.add_argument("action", nargs="?", choices=["list", "show", "describe"], default="list")
    jobs.add_argument("name", nargs="?")
    jobs.add_argument(
        "--kind",
        choices=KINDS,
        help="list: only this kind; show/describe: the record of this kind (needed when a "
        "training job, a transform job or an endpoint share the NAME)",
    )
    jobs.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    records = store()
    if args.action in ("show", "describe"):
        if not args.name:
            raise UsageError(f"usage: bigmart jobs {args.action} NAME")
        record = _one(records.find(args.name, args.kind), args)
        if args.action == "show":
            print(json.dumps(on_aws.refresh(record).as_dict(), indent=2))
        else:
            shown = on_aws.describe(record) or _describe_local(record)
            print(json.dumps(shown, indent=2, default=str))
        return 0
    if args.name:
        raise UsageError(
            f"bigmart jobs list takes no NAME; to see one: bigmart jobs show {args.name}"
        )
    listed = [on_aws.refresh(record) for record in records.list(args.kind)]
    if not listed:
        print("no jobs yet; start with: bigmart quickstart")
        return 0
    print(f"{'NAME':44} {'KIND':9} {'STATUS':10} {'CREATED':20} {'SECONDS':>8}  SUMMARY")
    for record in listed:
        shown = record.as_dict()
        summary = _summary(record.metrics, record.failure_reason)
        seconds = f"{shown['seconds']:.1f}" if shown["seconds"] is not None else "-"
        print(
            f"{record.name:44} {record.kind:9} {record.status:10} {shown['created']:20} "
            f"{seconds:>8}  {summary}"
        )
    return 0


def _one(found: list[JobRecord], args: argparse.Namespace) -> JobRecord:
    """The record NAME names; refused if none does, or if several kinds share it."""
    kind = LABELS[args.kind] if args.kind else "job or endpoint"
    if not found:
        raise UsageError(f"no {kind} named {args.name!r}; see: bigmart jobs")
    if len(found) > 1:
        kinds = " and ".join(one(record.kind) for record in found)
        options = " or ".join(f"--kind {record.kind}" for record in found)
        raise UsageError(
            f"{args.name!r} names {kinds}; say which: bigmart jobs {args.action} "
            f"{args.name} {options}"
        )
    return found[0]


def _summary(metrics: dict[str, object], failure: str | None) -> str:
    if failure:
        return failure.splitlines()[0][:80]
    for key in ("validation:rmse", "records"):
        if key in metrics:
            value = metrics[key]
            return f"{key}={value:.6g}" if isinstance(value, float) else f"{key}={value}"
    return ""


def _describe_local(record: JobRecord) -> dict[str, Any]:
    """The local backend's Describe answer for a job or endpoint run here."""
    backend = LocalSageMaker(store())
    describe: dict[str, Callable[[str], dict[str, Any]]] = {
        "training": backend.describe_training_job,
        "transform": backend.describe_transform_job,
        "endpoint": backend.describe_endpoint,
    }
    return describe[record.kind](record.name)
