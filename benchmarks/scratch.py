"""One scratch folder per benchmark run: announced while it runs, removed when it ends.

Benchmarks write models, request bodies, logs and (for the seed) a ~380 MB pickle; none of
it may outlive the run, whether it ends normally, by an error, by Ctrl-C or by SIGTERM.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import FrameType


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # SystemExit unwinds like Ctrl-C does, so every ``finally`` (servers, the folder) runs.
    sys.exit(128 + signum)


@contextlib.contextmanager
def scratch_folder(name: str) -> Iterator[Path]:
    """A fresh temporary folder for this run, printed on entry and removed on exit.

    Call from the main thread: it turns SIGTERM into ``SystemExit(143)`` while it is open.
    """
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        with tempfile.TemporaryDirectory(prefix=f"bigmart-bench-{name}-") as folder:
            print(f"scratch: {folder} (removed when this script ends)", flush=True)
            yield Path(folder)
    finally:
        signal.signal(signal.SIGTERM, previous)
