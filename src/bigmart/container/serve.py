"""``serve``: the hosting contract's process tree.

A gunicorn master (binds the port, replaces a dead worker, drains on SIGTERM) over uvicorn
workers running ``InferenceApp``. The model is verified in the master before the port is
bound: a missing or corrupt model makes ``serve`` exit non-zero with one log line, so
``/ping`` can never answer 200 without a usable model.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from bigmart.container.app import InferenceApp
from bigmart.container.capture import CaptureConfig
from bigmart.container.paths import OptMl
from bigmart.container.protocol import within_open_files
from bigmart.container.settings import ServingSettings
from bigmart.container.worker import raise_open_files_limit
from bigmart.contract import EXIT_NO_MODEL, EXIT_USAGE, MIB

#: SageMaker sends SIGKILL 30 s after SIGTERM; in-flight requests get 25 s to finish.
GRACEFUL_SECONDS = 25

log = logging.getLogger("bigmart.serve")


class ModelServer(BaseApplication):  # type: ignore[misc]  # gunicorn is untyped
    """gunicorn, configured in code rather than by a config file."""

    def __init__(self, app: InferenceApp, settings: ServingSettings) -> None:
        self.application = app
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        options: dict[str, Any] = {
            "bind": _bind_address(self.settings.host, self.settings.port),
            "workers": self.settings.workers,
            "worker_class": "bigmart.container.worker.ServingWorker",
            "timeout": self.settings.timeout,
            "graceful_timeout": GRACEFUL_SECONDS,
            "keepalive": self.settings.limits.keepalive,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "info",
            "proc_name": "bigmart-serve",
            # gunicorn 27's control socket would write to $HOME; a container needs none.
            "control_socket_disable": True,
        }
        for key, value in options.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self) -> InferenceApp:
        return self.application


def _bind_address(host: str, port: int) -> str:
    """gunicorn's ``host:port``, with an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def main() -> None:
    """Console entry point."""
    configure_logging()
    sys.exit(run(OptMl.from_environment()))


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s serve: %(message)s", stream=sys.stderr
    )


def run(paths: OptMl) -> int:
    """Verify the model, then serve until SIGTERM; return the exit code."""
    try:
        settings = ServingSettings.from_environment()
        capture = CaptureConfig.from_environment()
    except ValueError as error:
        log.error("bad serving setting: %s", error)
        return EXIT_USAGE
    if capture is not None and settings.batch:
        log.warning("data capture is for real-time endpoints; not capturing in batch")
        capture = None
    try:
        from bigmart.model.predictor import Predictor

        Predictor.load(paths.model)  # verify (checksums, featurizer, ONNX) before binding
    except Exception as error:  # any failure here means: do not serve
        log.error("cannot load the model from %s: %s", paths.model, error)
        return EXIT_NO_MODEL
    open_files = raise_open_files_limit()
    limits = within_open_files(settings.limits)
    log.info(
        "limits per worker: %d connections (open files %d), head %d KiB in %g s, "
        "body silence %g s then %d KiB/s, %d MiB of bodies in flight, keep-alive %g s",
        limits.max_connections,
        open_files,
        limits.max_head_bytes // 1024,
        limits.header_timeout,
        limits.body_timeout,
        limits.body_min_rate // 1024,
        limits.body_buffer_bytes // MIB,
        limits.keepalive,
    )
    log.info(
        "serving %s on port %d of %s: %d worker(s), timeout %d s, %s%s",
        paths.model,
        settings.port,
        settings.host,
        settings.workers,
        settings.timeout,
        settings.payload_limit(),
        " (batch)" if settings.batch else "",
    )
    if capture is not None:
        log.info("data capture: %s", capture.describe())
    ModelServer(InferenceApp(Path(paths.model), settings, capture), settings).run()
    return 0


if __name__ == "__main__":
    main()
