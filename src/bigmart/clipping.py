"""Short messages: quotes of input (a value, a column name, a file name, a list of them)
and errors as one line.

A message that quotes input must stay short whatever the input holds: a 20 MB header
line must not become a 20 MB FailureReason or log line. No imports beyond the standard
library (and ``errors``, which has none), so the ``train`` entry point can use it before
its slow imports.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bigmart.errors import BigmartError  # standard library only, as this module

#: A failure reason quoting input or an exception is clipped to this many characters.
REASON_LIMIT = 500


def clip(text: str, limit: int = 40) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clip_list(items: Sequence[Any], *, each: int = 40, shown: int = 12) -> str:
    """The first ``shown`` items, each clipped, comma-separated, then how many more."""
    text = ", ".join(clip(str(item), each) for item in items[:shown])
    more = len(items) - shown
    return f"{text} and {more:,} more" if more > 0 else text


def describe(error: BaseException) -> str:
    """An exception as users read it: its message, with its type when the type says more
    (never for the product's own errors: their messages are written for the user)."""
    text = str(error)
    if isinstance(error, (BigmartError, OSError, ValueError)) and text:
        return text
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def one_line(text: str, limit: int = REASON_LIMIT) -> str:
    """``text`` on one line, clipped to ``limit`` characters."""
    return clip(" ".join(text.split()), limit)
