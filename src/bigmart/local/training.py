"""A local training job: SageMaker's job layout on disk, the real ``train`` as a child process.

The job folder is an ``/opt/ml`` tree (``input/config``, ``input/data/<channel>``,
``model``, ``output``), so ``train`` runs exactly as it would in the image. Afterwards,
like SageMaker, the model and the output data are packed to ``output/model.tar.gz`` and
``output/output.tar.gz``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bigmart.container.paths import OptMl
from bigmart.contract import EXIT_STOPPED, Env, JobStatus
from bigmart.lifeline import tethered
from bigmart.local import storage
from bigmart.local.engines import DEFAULT_IMAGE, exit_reason, train_command
from bigmart.local.lifecycle import Echo
from bigmart.model.archive import pack


@dataclass
class TrainingJobResult:
    """What a finished local training job left behind."""

    name: str
    status: str  # JobStatus.COMPLETED | JobStatus.FAILED | JobStatus.STOPPED
    job_dir: Path
    metrics: dict[str, float] = field(default_factory=dict)
    model_archive: Path | None = None
    failure_reason: str | None = None
    seconds: float = 0.0


def job_folder(home: Path, name: str, output: str) -> Path:
    """A job's folder: under a local output, or staged in the state folder ``home`` for an
    S3 output (kept after the job, with its output/data; in ``training/`` of the name's
    folder, which a transform job of that name shares)."""
    if storage.is_s3(output):
        return home / "jobs" / name / "training"
    return Path(output) / name


def prepare_job(
    job_dir: Path,
    channels: Mapping[str, Path],
    hyperparameters: Mapping[str, str],
    *,
    copy_data: bool = False,
) -> OptMl:
    """Lay out the job folder: config files, and each channel's data linked in (or copied,
    for a container, which sees only the job folder)."""
    paths = OptMl(job_dir)
    paths.config.mkdir(parents=True, exist_ok=True)
    paths.model.mkdir(parents=True, exist_ok=True)
    paths.output.mkdir(parents=True, exist_ok=True)
    paths.hyperparameters.write_text(json.dumps(dict(hyperparameters), indent=1))
    paths.input_data_config.write_text(
        json.dumps(
            {
                name: {
                    "ContentType": "text/csv",
                    "TrainingInputMode": "File",
                    "S3DistributionType": "FullyReplicated",
                    "RecordWrapperType": "None",
                }
                for name in channels
            },
            indent=1,
        )
    )
    paths.resource_config.write_text(
        json.dumps(
            {"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"}
        )
    )
    for name, source in channels.items():
        _fill_channel(paths.channel(name), source.resolve(), copy_data=copy_data)
    return paths


def _fill_channel(folder: Path, source: Path, *, copy_data: bool) -> None:
    """Make ``source`` the channel as SageMaker fills one: a folder's contents are the
    channel's (an S3 prefix's keys land relative to it), a single file lands inside it."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir() and copy_data:
        # Links are copied as links: followed, a loop (``latest -> .``) would recurse
        # without end here; inside the container ``train`` reads each real file once
        # and refuses a link that leads out of the data (it dangles there).
        shutil.copytree(source, folder, symlinks=True)
    elif source.is_dir():
        # A link, not a copy: SageMaker copies from S3, but a local folder is already here.
        folder.symlink_to(source, target_is_directory=True)
    else:
        folder.mkdir(exist_ok=True)
        if copy_data:
            shutil.copyfile(source, folder / source.name)
        else:
            (folder / source.name).symlink_to(source)


def run_training_job(
    name: str,
    job_dir: Path,
    channels: Mapping[str, Path],
    hyperparameters: Mapping[str, str],
    *,
    echo: Echo = print,
    engine: str = "process",
    image: str = DEFAULT_IMAGE,
) -> TrainingJobResult:
    """Run ``train`` on a prepared job folder, streaming its log through ``echo``: as a
    child process of this Python, or in the image with a container engine."""
    command = train_command(engine, image, job_dir)
    paths = prepare_job(job_dir, channels, hyperparameters, copy_data=command is not None)
    started = time.monotonic()
    environment = {
        **os.environ,
        Env.OPT_ML: str(paths.root),
        "TRAINING_JOB_NAME": name,
        "PYTHONUNBUFFERED": "1",
    }
    argv = command or [sys.executable, "-m", "bigmart.container.train"]
    output: deque[str] = deque(maxlen=20)  # quoted if ``train`` leaves no failure file
    with subprocess.Popen(
        tethered(argv),  # killed outright, this process takes ``train`` with it
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        previous = signal.signal(signal.SIGINT, lambda *_: process.send_signal(signal.SIGTERM))
        try:
            assert process.stdout is not None
            for line in process.stdout:
                output.append(line.rstrip("\n"))
                echo(output[-1])
            code = process.wait()
        except BaseException:
            # SIGTERM/SIGHUP raised here (or any error): ``train`` must not run on alone,
            # nor the exit wait for it to finish. It is asked to stop, then killed.
            _stop(process)
            raise
        finally:
            signal.signal(signal.SIGINT, previous)
    result = TrainingJobResult(
        name=name, status=JobStatus.COMPLETED, job_dir=job_dir, seconds=time.monotonic() - started
    )
    metrics_file = paths.output_data / "metrics.json"
    if metrics_file.exists():
        result.metrics = json.loads(metrics_file.read_text())
    if code != 0:
        result.status = JobStatus.STOPPED if code == EXIT_STOPPED else JobStatus.FAILED
        result.failure_reason = read_failure_reason(paths) or exit_reason(
            argv, "train", code, output
        )
        return result
    result.model_archive = pack(paths.model, paths.output / "model.tar.gz")
    paths.output_data.mkdir(parents=True, exist_ok=True)
    pack(paths.output_data, paths.output / "output.tar.gz")
    return result


def _stop(process: subprocess.Popen[str], grace_seconds: float = 30) -> None:
    """SIGTERM to ``train`` (it writes its failure file and exits 143), SIGKILL after
    ``grace_seconds``."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def read_failure_reason(paths: OptMl) -> str | None:
    """FailureReason as SageMaker shows it: the failure file's first 1,024 characters,
    here cut to its first paragraph (the traceback follows it)."""
    if not paths.failure.exists():
        return None
    text = paths.failure.read_text(errors="replace")[:1024]
    return text.split("\n\n", 1)[0].strip()
