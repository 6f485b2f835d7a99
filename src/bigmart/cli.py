"""The ``bigmart`` command: SageMaker-style jobs and endpoints, locally or on AWS."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from bigmart.commands import (
    UsageError,
    endpoint,
    image,
    jobs,
    predict,
    quickstart,
    serve,
    synth,
    train,
    transform,
)
from bigmart.hyperparameters import HyperParameterError
from bigmart.schema import SchemaError

COMMANDS = (quickstart, train, predict, serve, endpoint, transform, jobs, synth, image)


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        code = args.handler(args)
    except (UsageError, SchemaError, HyperParameterError) as error:
        print(f"bigmart: error: {error}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        # The reader went away (``bigmart jobs | head``): stop quietly, as Unix tools do.
        # stdout is pointed at /dev/null so the interpreter's final flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 141
    sys.exit(code)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bigmart",
        description="Train, serve and batch-score Big Mart sales models the SageMaker way, "
        "locally or on AWS. New here? Run: bigmart quickstart",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


if __name__ == "__main__":
    main()
