"""Publishing a local file whole: written under a unique temporary name, then renamed.

Every writer of an output (a model file, a model archive, a transform's ``.out``, a
prediction CSV, a downloaded object) goes through ``replacing``, so a reader never sees
half a file, two writers of one target never share a temporary file (the last to finish
wins, whole), and a link planted where a fixed temporary name would be is never followed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import IO, Any


@contextmanager
def replacing(
    location: str | os.PathLike[str], mode: str = "wb", *, durable: bool = False, **open_args: Any
) -> Iterator[IO[Any]]:
    """A new local file that replaces ``location`` (``os.replace``) only if the block
    completes; on an exception it is removed and ``location`` is left as it was.

    The file is created with O_EXCL under a unique hidden name in the target's folder
    (``.<name>.<random>.partial``, skipped when a folder is listed as input), never a fixed
    name, and is given the permissions a plain ``open`` would. ``durable`` flushes it to
    disk before the rename, so a crash leaves the old file or the new one, never an empty one.
    """
    target = Path(location)
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{target.name[:200]}.", suffix=".partial", dir=target.parent
    )
    try:
        with open(descriptor, mode, **open_args) as handle:
            os.fchmod(descriptor, _new_file_mode())
            yield handle
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


@cache
def _new_file_mode() -> int:
    """The mode ``open`` gives a new file (0o666 less the umask); mkstemp's is 0o600."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # no /proc: read the umask by setting it back at once
    os.umask(mask)
    return 0o666 & ~mask
