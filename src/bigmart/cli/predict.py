"""``bigmart predict``: score a CSV in-process, no server.

Every failure is one line: a model that is missing, corrupt, altered or a hostile archive
(exit 2, like any refused input), and a file that cannot be read or written, e.g. a full
disk under the output (exit 1, naming the file).
"""

from __future__ import annotations

import argparse
import errno
import sys
from pathlib import Path

from bigmart.cli import UsageError


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    predict = commands.add_parser("predict", help="score a CSV file with a model, no server")
    # Plain strings, not Path: Path() would print s3://b/k as s3:/b/k in messages.
    predict.add_argument(
        "--model", required=True, help="model folder or model.tar.gz, local or s3://"
    )
    predict.add_argument(
        "--input",
        required=True,
        help="CSV file or s3:// object with a header row (the target column may be present)",
    )
    predict.add_argument(
        "--output",
        required=True,
        help="CSV file or s3:// key to write: one prediction per line, in input order",
    )
    predict.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from bigmart.local.predict import predict_csv
    from bigmart.model.artifact import ArtifactError

    check_model(args.model)
    check_paths(args.input, args.output)
    try:
        rows = predict_csv(args.model, args.input, args.output)
    except ArtifactError as error:
        raise UsageError(f"--model: {error}") from None
    except OSError as error:
        print(f"bigmart: error: {describe_failure(error, args.output)}", file=sys.stderr)
        return 1
    print(f"wrote {rows:,} predictions to {args.output}")
    return 0


#: Errors that only writing raises: without a file name they concern the output.
WRITE_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


def describe_failure(error: OSError, output_csv: str) -> str:
    """One line for a read or write failure, naming the file (a write to the output
    carries no file name, so the output is named for it)."""
    from bigmart.cli.common import describe_os_error

    if error.filename is None and error.errno in WRITE_ERRORS:
        return f"cannot write --output {output_csv!r}: {error.strerror}"
    return describe_os_error(error)


def check_model(model: str) -> None:
    """An S3 model that is not there is a usage error naming it, like a missing folder."""
    from bigmart.local import storage

    if storage.is_s3(model) and not storage.object_exists(model):
        raise UsageError(f"--model {model!r} does not exist (give the model.tar.gz's URI)")


def check_paths(input_csv: str, output_csv: str) -> None:
    """Refuse an input or output that cannot work before the model is even unpacked."""
    from bigmart.local import storage

    if storage.is_s3(input_csv):
        if input_csv.endswith("/"):
            raise UsageError(f"--input {input_csv!r} is a prefix; give one CSV object")
        if not storage.object_exists(input_csv):
            raise UsageError(f"--input {input_csv!r} does not exist")
        input_csv = ""  # nothing local to check
    if storage.is_s3(output_csv):
        if output_csv.endswith("/"):
            raise UsageError(
                f"--output {output_csv!r} is a prefix; give the key of the CSV to write, "
                f"e.g. {output_csv + 'predictions.csv'!r}"
            )
        output_csv = ""
    if input_csv:
        _check_local_input(input_csv)
    if output_csv:
        _check_local_output(output_csv)


def _check_local_input(input_csv: str) -> None:
    source = Path(input_csv)
    if source.is_dir():
        raise UsageError(f"--input {input_csv!r} is a folder; give one CSV file")
    if not source.exists():
        raise UsageError(f"--input {input_csv!r} does not exist")


def _check_local_output(output_csv: str) -> None:
    destination = Path(output_csv)
    if destination.is_dir():
        raise UsageError(
            f"--output {output_csv!r} is a folder; give the CSV file to write, "
            f"e.g. {str(destination / 'predictions.csv')!r}"
        )
    if destination.exists() and not destination.is_file():
        # The output replaces the file by a rename: a device or pipe would be replaced.
        raise UsageError(
            f"--output {output_csv!r} is not a regular file (a device or a pipe?); "
            "give the path of the CSV file to write"
        )
    folder = next((p for p in destination.parents if p.exists()), None)
    if folder is not None and not folder.is_dir():
        raise UsageError(f"--output {output_csv!r}: {str(folder)!r} is a file, not a folder")
