"""The ``bigmart`` subcommands: each module adds its parser and runs it."""

from __future__ import annotations


class UsageError(Exception):
    """A command-line mistake or a refused request: printed as one line, exit code 2."""
