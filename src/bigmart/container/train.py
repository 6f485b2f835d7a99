"""``train``: SageMaker's training contract around ``run_training``.

Reads ``input/config/*.json`` and the channels under ``input/data``, writes the model to
``model/`` only when it is complete (it is built in a staging folder and moved in), and on
any error writes the reason (first sentence first, traceback after) to ``output/failure``
and exits non-zero. SIGTERM, which SageMaker sends to stop a job, stops training the same
way with "stopped" in the failure file.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from bigmart.clipping import clip, clip_list
from bigmart.container.paths import OptMl
from bigmart.contract import EXIT_FAILED, EXIT_STOPPED, GZIP, Env
from bigmart.errors import UserError
from bigmart.model.hyperparameters import HyperParameters, sagemaker_names

log = logging.getLogger("bigmart.train")

#: SageMaker shows the first 1,024 characters of the failure file as FailureReason.
MAX_REASON_CHARS = 1024
#: The traceback after the reason: its lines clipped, and its end kept if it is longer.
MAX_TRACEBACK_CHARS = 8000
CHANNELS = ("training", "validation")


class TrainingStopped(Exception):
    """SIGTERM arrived: SageMaker is stopping the job."""


class ContractError(UserError, ValueError):
    """The job's configuration does not fit what this algorithm needs."""


@dataclass(frozen=True)
class Channel:
    """Where a channel's data is, and how it is delivered."""

    name: str
    path: Path
    gzipped: bool | None  # None: judge each file by its suffix


def main() -> None:
    """Console entry point: run the job, exit 0 on success, non-zero on failure."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    sys.exit(run(OptMl.from_environment()))


def run(paths: OptMl) -> int:
    """Run one training job under ``paths``; return the process exit code."""
    previous = signal.signal(signal.SIGTERM, _raise_stopped)
    paths.failure.unlink(missing_ok=True)
    try:
        _train(paths)
    except TrainingStopped:
        _write_failure(paths, "Training stopped: SIGTERM received before training finished.")
        return EXIT_STOPPED
    except Exception as error:  # every failure must reach the failure file
        _write_failure(paths, failure_reason(error))
        return EXIT_FAILED
    finally:
        signal.signal(signal.SIGTERM, previous)
    log.info("training complete")
    return 0


def _train(paths: OptMl) -> None:
    from bigmart.model.training import run_training  # after the signal handler: imports are slow

    hyperparameters = read_hyperparameters(paths)
    channels = read_channels(paths)
    check_single_host(paths)
    log.info("hyper-parameters: %s", json.dumps(hyperparameters.as_strings(), sort_keys=True))
    paths.root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".model-staging-", dir=paths.root))
    try:
        run_training(
            channels["training"].path,
            staging,
            hyperparameters=hyperparameters,
            validation=channels["validation"].path if "validation" in channels else None,
            training_gzipped=channels["training"].gzipped,
            validation_gzipped=channels["validation"].gzipped if "validation" in channels else None,
            output_data_dir=paths.output_data,
            job_name=os.environ.get(Env.TRAINING_JOB_NAME),
            log=log.info,
        )
        _publish(staging, paths.model)
        log.info("model written to %s", paths.model)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def read_hyperparameters(paths: OptMl) -> HyperParameters:
    """``hyperparameters.json`` (optional: defaults when absent) parsed and checked; the
    keys SageMaker adds (tuning, SDK) are logged and skipped."""
    if not paths.hyperparameters.exists():
        return HyperParameters()
    document = _read_config(paths.hyperparameters)
    ignored = sagemaker_names(document)
    if ignored:
        log.info("ignoring hyper-parameter(s) set by SageMaker: %s", clip_list(ignored))
    return HyperParameters.from_strings(document)


def read_channels(paths: OptMl) -> dict[str, Channel]:
    """The training and validation channels, from ``inputdataconfig.json``.

    File and FastFile mode read the channel folder; Pipe mode reads the ``<name>_0`` FIFO.
    Without the config file (a hand-made job folder), the channel folders present are used.
    """
    if paths.input_data_config.exists():
        config = _read_config(paths.input_data_config)
    else:
        config = {name: {} for name in CHANNELS if paths.channel(name).exists()}
    if "training" not in config:
        listed = clip_list(sorted(config)) or "none"
        raise ContractError(
            f"The 'training' channel is required but inputdataconfig.json lists: {listed}."
        )
    for name in sorted(set(config) - set(CHANNELS)):
        log.warning("ignoring channel %r: this algorithm reads only %s", clip(name), CHANNELS)
    channels = {}
    for name in CHANNELS:
        if name not in config:
            continue
        settings = config[name] if isinstance(config[name], Mapping) else {}
        mode = settings.get("TrainingInputMode", "File")
        if mode not in ("File", "FastFile", "Pipe"):
            raise ContractError(
                f"Channel {name!r}: TrainingInputMode {clip(str(mode))!r} is not supported."
            )
        path = paths.channel(name)
        if mode == "Pipe":
            path = path.with_name(f"{name}_0")
        if not path.exists():
            raise ContractError(f"Channel {name!r}: {path} does not exist ({mode} mode).")
        gzipped = True if settings.get("CompressionType") == GZIP else None
        channels[name] = Channel(name=name, path=path, gzipped=gzipped)
    return channels


def check_single_host(paths: OptMl) -> None:
    """A random forest trains on one instance; several would each train the same model."""
    if not paths.resource_config.exists():
        return
    hosts = _read_config(paths.resource_config).get("hosts", [])
    if isinstance(hosts, list) and len(hosts) > 1:
        raise ContractError(
            f"This algorithm trains on one instance, but the job has {len(hosts)} hosts "
            f"({clip_list(hosts)}); set InstanceCount to 1."
        )


def failure_reason(error: BaseException) -> str:
    """The one-line reason a user reads first in FailureReason."""
    from bigmart.schema import SchemaError

    if isinstance(error, SchemaError):
        return f"Bad training data: {error}"
    if isinstance(error, ValueError):
        return str(error) or type(error).__name__
    return f"{type(error).__name__}: {error}"


def _publish(staging: Path, model_dir: Path) -> None:
    """Move a complete model into ``model_dir`` with SIGTERM held off, so a stop cannot
    leave half a model there."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        from bigmart.model.artifact import rewrite_model

        rewrite_model(staging, model_dir)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def _read_config(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except ValueError as error:
        raise ContractError(f"{path} is not valid JSON: {error}.") from None
    if not isinstance(document, dict):
        raise ContractError(f"{path} must hold a JSON object.")
    return document


def _write_failure(paths: OptMl, reason: str) -> None:
    """The reason first (SageMaker shows the first 1,024 characters), then the traceback;
    both clipped, so input quoted in a message cannot make the file large."""
    reason = clip(reason, MAX_REASON_CHARS)
    log.error("training failed: %s", reason)
    paths.output.mkdir(parents=True, exist_ok=True)
    paths.failure.write_text(f"{reason}\n\n{_clipped_traceback()}")


def _clipped_traceback() -> str:
    lines = [clip(line, 500) for line in traceback.format_exc().splitlines()]
    text = "\n".join(lines) + "\n"
    if len(text) <= MAX_TRACEBACK_CHARS:
        return text
    return "… (the start of the traceback is left out)\n" + text[-MAX_TRACEBACK_CHARS:]


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise TrainingStopped


if __name__ == "__main__":
    main()
