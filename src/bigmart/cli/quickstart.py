"""``bigmart quickstart``: the whole story on synthetic data, on a machine with nothing.

Train → endpoint → a few requests → batch transform → summary, each step the same command
a user runs by hand (printed as it goes), then the next command for real data.
"""

from __future__ import annotations

import argparse
import json
import shlex
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from bigmart.cli.common import store
from bigmart.data import synthetic as synth
from bigmart.local.lifecycle import termination_raises

# All demo output lives under ./demo/ (ignored by git), so a demo never litters the checkout.
DEFAULT_WORKDIR = Path("demo") / "quickstart"


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    quickstart = commands.add_parser(
        "quickstart", help="train, serve and batch-score synthetic data end to end"
    )
    quickstart.add_argument(
        "--workdir",
        type=Path,
        default=DEFAULT_WORKDIR,
        help=f"where data, jobs and predictions go (default {DEFAULT_WORKDIR}/)",
    )
    quickstart.add_argument(
        "--rows", type=int, default=20_000, help="rows to batch-score (default 20,000)"
    )
    quickstart.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.parser  # the whole ``bigmart`` parser (cli.main)
    started = time.monotonic()
    tag = uuid.uuid4().hex[:6]
    work: Path = args.workdir
    data = work / "data"
    train_csv, score_dir = data / "train.csv", data / "to-score"
    print(f"== 1/5 synthetic data in {data} (no real data needed)")
    synth.write_csv(train_csv, 8_523, seed=1)
    synth.write_csv(score_dir / "part-0001.csv", args.rows, seed=2, with_target=False)
    sample = (score_dir / "part-0001.csv").read_text().splitlines()[1:4]

    def step(title: str, argv: list[str]) -> int:
        print(f"\n== {title}\n$ bigmart {shlex.join(argv)}", flush=True)
        parsed = parser.parse_args(argv)
        handler: Callable[[argparse.Namespace], int] = parsed.handler
        return handler(parsed)

    job = f"quickstart-train-{tag}"
    if step(
        "2/5 training job",
        ["train", "--data", str(train_csv), "--output", str(work / "runs"), "--name", job],
    ):
        return 1
    model = str(work / "runs" / job / "output" / "model.tar.gz")
    endpoint = f"quickstart-{tag}"
    if step("3/5 endpoint", ["endpoint", "create", "--model", model, "--name", endpoint]):
        return 1
    try:
        # SIGTERM / SIGHUP raise here, so the endpoint is deleted as after Ctrl-C
        with termination_raises():
            request = work / "request.csv"
            request.write_text("\n".join(sample) + "\n")
            print(f"\n-- three rows as CSV ({request}):")
            print("\n".join(sample))
            step("invoke (CSV)", ["endpoint", "invoke", endpoint, "--body", str(request)])
            record = dict(zip(synth.TRAINING_COLUMNS, sample[0].split(","), strict=False))
            json_request = work / "request.json"
            json_request.write_text(json.dumps({"instances": [record]}))
            step(
                "invoke (JSON)",
                [
                    "endpoint",
                    "invoke",
                    endpoint,
                    "--body",
                    str(json_request),
                    "--content-type",
                    "application/json",
                    "--accept",
                    "application/json",
                ],
            )
            print()
    finally:
        step("endpoint delete", ["endpoint", "delete", endpoint])
    transform = f"quickstart-transform-{tag}"
    code = step(
        "4/5 batch transform",
        [
            "transform",
            "--model",
            model,
            "--input",
            str(score_dir),
            "--output",
            str(work / "predictions"),
            "--name",
            transform,
        ],
    )
    records = store()
    trained, scored = records.get(job), records.get(transform)
    print(f"\n== 5/5 summary ({time.monotonic() - started:.0f} s)")
    if trained:
        print(
            f"training job  {job}: {trained.status}, validation RMSE "
            f"{trained.metrics.get('validation:rmse', float('nan')):.1f}, model {model}"
        )
    print(f"endpoint      {endpoint}: created, answered CSV and JSON, deleted")
    if scored:
        print(
            f"transform job {transform}: {scored.status}, "
            f"{scored.metrics.get('records', 0):,} records -> {work / 'predictions'}"
        )
    print("all jobs:     bigmart jobs")
    print(
        "\nNext, with your data (a CSV with the Big Mart columns and Item_Outlet_Sales):\n"
        "  bigmart train --data path/to/train.csv --output demo/runs/ --name <job>\n"
        "  bigmart transform --model demo/runs/<job>/output/model.tar.gz "
        "--input path/to/test.csv --output demo/predictions/\n"
        "Or with your own boto3 / SageMaker SDK code, unchanged: run `bigmart api` and point "
        "AWS_ENDPOINT_URL_SAGEMAKER at it (README: A local SageMaker API)."
    )
    return code
