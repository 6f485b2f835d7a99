"""``bigmart report JOB_OR_MODEL [--open]``: where a training job's report is.

A name in the job store is a training job: its report is in its job folder's
``output/data`` (or, for a job run on SageMaker, read out of its ``output.tar.gz`` into
the state folder). Anything else is a path: a report, a job folder, a model folder or a
``model.tar.gz``, whose job's ``output/data/report.html`` is the one meant. The path is
printed alone on stdout, so ``open "$(bigmart report JOB)"`` works too.
"""

from __future__ import annotations

import argparse
import sys
import webbrowser
from pathlib import Path

from bigmart.cli import UsageError
from bigmart.cli.common import store
from bigmart.local.reports import report_of_job, report_of_path


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    report = commands.add_parser(
        "report",
        help="print where a training job's report (report.html) is; --open opens it",
        description="Print the path of a training job's report.html: give a job name "
        "(bigmart jobs lists them), a job folder, a model folder or a model.tar.gz.",
    )
    report.add_argument("target", metavar="JOB_OR_MODEL", help="a training job's name or a path")
    report.add_argument(
        "--open", action="store_true", help="open the report in the default web browser"
    )
    report.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    path = locate(args.target).resolve()
    print(path, flush=True)
    if args.open and not webbrowser.open(path.as_uri()):
        print(f"bigmart: no web browser to open it; open {path} yourself", file=sys.stderr)
        return 1
    return 0


def locate(target: str) -> Path:
    """The report for a job name (a job of that name wins over a file) or a path."""
    jobs = store()
    record = jobs.get(target)
    if record is not None:
        return report_of_job(record, jobs.home)
    location = Path(target)
    if not location.exists():
        raise UsageError(
            f"{target!r} is neither a job (see: bigmart jobs) nor an existing file or folder"
        )
    return report_of_path(location)
