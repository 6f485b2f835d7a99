"""The ``bigmart`` command: SageMaker-style jobs and endpoints, locally or on AWS.

Exit codes: 0 done; 1 a job failed, or a file or the job store could not be read or written
(a full disk: one line naming the file and the reason); 2 a usage error or a refused input;
130 interrupted (Ctrl-C); 143 / 129 stopped by SIGTERM / SIGHUP (the job or endpoint is
recorded Stopped or Failed and its server stopped first); 141 the reader of stdout went away
(a job already running still runs to its end, its log kept, and the code is then the job's).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from bigmart.cli import (
    api,
    drift,
    endpoint,
    image,
    jobs,
    predict,
    quickstart,
    report,
    serve,
    synth,
    train,
    transform,
)
from bigmart.cli.common import describe_os_error
from bigmart.contract import EXIT_BROKEN_PIPE, EXIT_FAILED, EXIT_INTERRUPTED, exit_code_for_signal
from bigmart.errors import BigmartError
from bigmart.local.lifecycle import Terminated

COMMANDS = (
    quickstart,
    train,
    predict,
    serve,
    endpoint,
    transform,
    jobs,
    synth,
    image,
    api,
    report,
    drift,
)


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        code = args.handler(args)
    except BigmartError as error:  # the same error, the same line and code in every command
        print(f"bigmart: error: {error}", file=sys.stderr)
        code = error.exit_code
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    except Terminated as error:  # SIGTERM / SIGHUP inside a command that cleans up first
        print(f"bigmart: {error}", file=sys.stderr)
        code = exit_code_for_signal(error.signum)
    except BrokenPipeError:
        # The reader went away (``bigmart jobs | head``): stop quietly, as Unix tools do.
        # stdout is pointed at /dev/null so the interpreter's final flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_BROKEN_PIPE
    except OSError as error:
        # The last resort for a file or disk error no command handled where it happened
        # (ENOSPC, EACCES, EIO...): one line naming the file, not a traceback.
        print(f"bigmart: error: {describe_os_error(error)}", file=sys.stderr)
        code = EXIT_FAILED
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
    # quickstart runs the other commands through this parser: given, not imported (no cycle)
    parser.set_defaults(parser=parser)
    return parser


if __name__ == "__main__":
    main()
