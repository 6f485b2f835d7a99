"""``bigmart synth``: synthetic Big Mart rows."""

from __future__ import annotations

import argparse
from pathlib import Path

from bigmart.cli import UsageError


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    synth = commands.add_parser("synth", help="write synthetic Big Mart rows")
    synth.add_argument("--rows", type=int, default=8_523)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--output", type=Path, required=True, help="CSV file (.gz compresses)")
    synth.add_argument(
        "--no-target",
        action="store_true",
        help="leave out Item_Outlet_Sales (rows to score, like test.csv)",
    )
    synth.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from bigmart.data import synthetic as synth

    if args.rows < 1:
        raise UsageError("--rows must be at least 1")
    written = synth.write_csv(args.output, args.rows, args.seed, with_target=not args.no_target)
    print(f"wrote {written:,} synthetic rows to {args.output}")
    return 0
