"""Short quotes of input in messages: a value, a column name, a file name, a list of them.

A message that quotes input must stay short whatever the input holds: a 20 MB header
line must not become a 20 MB FailureReason or log line. No imports beyond the standard
library, so the ``train`` entry point can use it before its slow imports.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def clip(text: str, limit: int = 40) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clip_list(items: Sequence[Any], *, each: int = 40, shown: int = 12) -> str:
    """The first ``shown`` items, each clipped, comma-separated, then how many more."""
    text = ", ".join(clip(str(item), each) for item in items[:shown])
    more = len(items) - shown
    return f"{text} and {more:,} more" if more > 0 else text
