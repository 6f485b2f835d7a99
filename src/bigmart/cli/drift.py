"""``bigmart drift --model MODEL --capture URI [--since T] [--max-rows N] [--output F]
[--json]``: what an endpoint captured, compared with the model's training data.

Without ``--json`` it writes the HTML report (``--output``, default ``drift-report.html``)
and prints a few lines; with ``--json`` it prints the numbers (and writes the HTML only if
``--output`` is given). Unreadable capture lines are counted and named on stderr, never
fatal. Exit 0 whatever drifted: drift is a finding, not a failure.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bigmart.cli import UsageError
from bigmart.cli.common import positive_int

DEFAULT_OUTPUT = "drift-report.html"
#: Unreadable lines named on stderr (the report and --json list more).
SHOWN_UNREADABLE = 3


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    drift = commands.add_parser(
        "drift",
        help="compare what an endpoint captured with the model's training data (PSI)",
        description="Read an endpoint's data capture (a local endpoint's or a SageMaker "
        "endpoint's, in a folder or s3://) and compare each feature and the predictions "
        "with the model's baseline.json: PSI per feature, drift when PSI >= 0.2, missing "
        "rates, unseen categories.",
    )
    drift.add_argument(
        "--model", required=True, help="model folder or model.tar.gz, local or s3://"
    )
    drift.add_argument(
        "--capture",
        required=True,
        metavar="URI",
        help="capture folder or s3:// prefix: the --capture-s3-uri destination, or its "
        "<endpoint> or <endpoint>/<variant> folder",
    )
    drift.add_argument(
        "--since",
        metavar="T",
        help="only requests from then on: an ISO 8601 time (2024-05-01T13:00:00Z, "
        "2024-05-01; no zone means UTC) or an age (90m, 24h, 7d; s m h d w)",
    )
    drift.add_argument(
        "--max-rows",
        type=positive_int,
        metavar="N",
        help="stop after this many rows, the newest capture files first (memory does not "
        "grow with rows; this bounds the time)",
    )
    drift.add_argument(
        "--output",
        metavar="FILE",
        help=f"the HTML report to write (default {DEFAULT_OUTPUT}; with --json, none unless given)",
    )
    drift.add_argument("--json", action="store_true", help="print the numbers as JSON on stdout")
    drift.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from bigmart.local.captures import parse_since
    from bigmart.local.drift import drift_report
    from bigmart.model.artifact import ArtifactError

    since = parse_since(args.since) if args.since else None
    try:
        document = drift_report(args.model, args.capture, since=since, max_rows=args.max_rows)
    except ArtifactError as error:
        raise UsageError(f"--model: {error}") from None
    _warn_unreadable(document)
    output = args.output or (None if args.json else DEFAULT_OUTPUT)
    if output is not None:
        from bigmart.report.drift import write_report

        written = write_report(output, document)
    if args.json:
        print(json.dumps(document, indent=1, allow_nan=False))
        return 0
    print(summary(document))
    print(f"wrote {written.resolve()}")
    return 0


def summary(document: dict[str, Any]) -> str:
    """A few lines for a person: what was read, what drifted."""
    features = document["features"]
    lines = [
        f"{document['rows']:,} rows in {document['requests']:,} captured requests "
        f"({document.get('first')} to {document.get('last')})"
        + (" (--max-rows reached: older captures not read)" if document["truncated"] else "")
    ]
    if document["drifted"]:
        listed = ", ".join(f"{n} (PSI {features[n]['psi']:.3f})" for n in document["drifted"])
        lines.append(f"drifted (PSI >= {document['threshold']:g}): {listed}")
    elif document["rows"]:
        lines.append(f"no feature drifted (every PSI < {document['threshold']:g})")
    predictions = document["predictions"]
    if predictions["psi"] is not None:
        verdict = "drifted" if predictions["drift"] else "did not drift"
        lines.append(f"predictions {verdict} (PSI {predictions['psi']:.3f})")
    if document.get("few_rows") and document["rows"]:
        lines.append(f"only {document['rows']:,} rows: PSI is mostly chance at this size")
    return "\n".join(lines)


def _warn_unreadable(document: dict[str, Any]) -> None:
    read = document["read"]
    if not read["unreadable"]:
        return
    print(
        f"bigmart: {read['unreadable']:,} capture line(s) unreadable and skipped:",
        file=sys.stderr,
    )
    for item in read["unreadable_lines"][:SHOWN_UNREADABLE]:
        print(f"  {item['file']}, line {item['line']}: {item['reason']}", file=sys.stderr)
    if read["unreadable"] > SHOWN_UNREADABLE:
        print("  (the report and --json list more)", file=sys.stderr)
