"""The gunicorn worker: uvicorn's, speaking HTTP through ``GuardedHttpToolsProtocol``, and
ending with its master."""

from __future__ import annotations

import resource
from typing import Any

from uvicorn_worker import UvicornWorker

from bigmart.container.protocol import GuardedHttpToolsProtocol, WorkerGuard, within_open_files
from bigmart.container.settings import ServingSettings
from bigmart.lifeline import exit_with_parent


class ServingWorker(UvicornWorker):  # type: ignore[misc]  # gunicorn is untyped
    """A uvicorn worker whose connections obey the serving settings' ``limits``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings: ServingSettings = self.app.settings
        guard = WorkerGuard(within_open_files(settings.limits), settings.max_body_bytes)
        self.config.http = type("WorkerHttpProtocol", (GuardedHttpToolsProtocol,), {"guard": guard})

    def init_process(self) -> None:
        """The worker's start, in the forked child: first bound to its master's life."""
        exit_with_parent(self.ppid)
        super().init_process()


def raise_open_files_limit() -> int:
    """Raise the soft open-files limit to the hard one (inherited by the workers)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            return soft
    return hard
