"""The gunicorn worker: uvicorn's, speaking HTTP through ``GuardedHttpToolsProtocol``, and
ending with its master."""

from __future__ import annotations

import dataclasses
import resource
from typing import Any

from uvicorn_worker import UvicornWorker

from bigmart.container.protocol import GuardedHttpToolsProtocol, WorkerGuard
from bigmart.container.settings import ServingSettings
from bigmart.lifeline import exit_with_parent

#: File descriptors kept free of client connections: the listening socket, the model's
#: files, logs, the master's pipes.
RESERVED_FILES = 64


class ServingWorker(UvicornWorker):  # type: ignore[misc]  # gunicorn is untyped
    """A uvicorn worker whose connections obey the serving settings' ``limits``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings: ServingSettings = self.app.settings
        guard = WorkerGuard(connection_limits(settings), settings.max_body_bytes)
        self.config.http = type("WorkerHttpProtocol", (GuardedHttpToolsProtocol,), {"guard": guard})

    def init_process(self) -> None:
        """The worker's start, in the forked child: first bound to its master's life."""
        exit_with_parent(self.ppid)
        super().init_process()


def connection_limits(settings: ServingSettings) -> Any:
    """The settings' limits, with the connection cap kept under the open-files limit."""
    limits = settings.limits
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and limits.max_connections > soft - RESERVED_FILES:
        limits = dataclasses.replace(limits, max_connections=max(2, soft - RESERVED_FILES))
    return limits


def raise_open_files_limit() -> int:
    """Raise the soft open-files limit to the hard one (inherited by the workers)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            return soft
    return hard
