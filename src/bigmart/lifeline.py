"""A child process bound to its parent's life: the kernel sends it SIGTERM when the parent
dies.

A job's ``train``, its transform's ``serve`` and a gunicorn worker belong to the process
that started them. If that process is killed outright (``kill -9``, the OOM killer) it
cannot stop them; left alone, ``train`` would go on writing a model for a job whose record
says Failed, and ``serve`` would hold its port for ever with nobody to stop it. Linux's
``prctl(PR_SET_PDEATHSIG)`` has the kernel signal them instead.

A process asks for itself (``exit_with_parent``), so a child that runs another program is
started through ``python -m bigmart.lifeline PARENT -- COMMAND...`` (``tethered``): it asks,
then ``exec``s the command, which keeps the request (and the PID). Nothing runs between fork
and exec in the parent, as ``preexec_fn`` would, which is unsafe in a threaded process.

For the kernel, the parent is the *thread* that started the child: start tethered children
from a thread that lives as long as the job (the main thread, as the CLI and the api's
workers do). Elsewhere than Linux this is a no-op.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Sequence

#: prctl's option that has the kernel signal this process when its parent exits.
PR_SET_PDEATHSIG = 1
#: The exit code of a command that could not be run, as a shell's.
EXIT_NOT_RUN = 127


def exit_with_parent(parent: int) -> None:
    """Have the kernel send this process SIGTERM (a graceful end: ``train`` writes its
    failure file, ``serve`` closes its socket) when its parent dies, and exit now if the
    parent already has (it died before the request was in place)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:
        os._exit(0)


def tethered(argv: Sequence[str]) -> list[str]:
    """``argv`` run so that it ends with this process (see the module's docstring)."""
    if not sys.platform.startswith("linux"):
        return list(argv)
    return [sys.executable, "-m", "bigmart.lifeline", str(os.getpid()), "--", *argv]


def main(arguments: Sequence[str] | None = None) -> None:
    """``PARENT -- COMMAND...``: bind this process to PARENT's life, then become COMMAND."""
    parent, separator, *command = sys.argv[1:] if arguments is None else arguments
    if separator != "--" or not command or not parent.isdigit():
        sys.exit("usage: python -m bigmart.lifeline PARENT_PID -- COMMAND [ARG...]")
    exit_with_parent(int(parent))
    try:
        os.execvp(command[0], command)
    except OSError as error:
        print(f"bigmart.lifeline: cannot run {command[0]}: {error.strerror}", file=sys.stderr)
        sys.exit(EXIT_NOT_RUN)


if __name__ == "__main__":
    main()
