"""The ``bigmart`` subcommands: each module adds its parser and runs it."""

from __future__ import annotations

# Defined with the other user-facing errors; importable from here, where commands raise it.
from bigmart.errors import UsageError as UsageError
