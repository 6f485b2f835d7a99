"""A local batch transform job: start ``serve`` as SageMaker would, transform, report.

The job is recorded in the job store; its report (one entry per input object, with the
line and reason of any failure) is written to ``<state>/jobs/<name>/report.json``.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bigmart.container.paths import OptMl
from bigmart.contract import Env, JobStatus, batch_strategy_to_env
from bigmart.local import storage
from bigmart.local.engines import DEFAULT_IMAGE, ServeContainer, serve_command
from bigmart.local.lifecycle import Echo
from bigmart.local.server_process import ModelServer, free_port, materialize_model
from bigmart.local.transform.client import ObjectOutcome, transform_objects
from bigmart.local.transform.options import TransformOptions
from bigmart.local.transform.plan import Plan


@dataclass
class TransformJobResult:
    name: str
    status: str
    outcomes: list[ObjectOutcome] = field(default_factory=list)
    records: int = 0
    seconds: float = 0.0
    failure_reason: str | None = None
    report: Path | None = None
    settings: dict[str, object] = field(default_factory=dict)


def batch_environment(options: TransformOptions) -> dict[str, str]:
    """The environment SageMaker gives the container of a transform job."""
    environment = {Env.SAGEMAKER_BATCH: "true"}
    if options.max_payload_mb is not None:
        environment[Env.SAGEMAKER_MAX_PAYLOAD_IN_MB] = str(options.max_payload_mb)
    if options.batch_strategy is not None:
        environment[Env.SAGEMAKER_BATCH_STRATEGY] = batch_strategy_to_env(options.batch_strategy)
    if options.max_concurrent_transforms:
        environment[Env.SAGEMAKER_MAX_CONCURRENT_TRANSFORMS] = str(
            options.max_concurrent_transforms
        )
    return environment


def run_transform_job(
    name: str,
    model: str,
    input_location: str,
    output_location: str,
    options: TransformOptions,
    *,
    report_dir: Path,
    scratch: Path,
    echo: Echo = print,
    progress_bar: bool | None = None,
    engine: str = "process",
    image: str = DEFAULT_IMAGE,
) -> TransformJobResult:
    """Run one transform job end to end; never raises for bad records (they are reported).

    ``scratch`` is the folder for the server's ``/opt/ml`` (a copy of the model), made
    empty first and removed when the job ends (``JobStore.scratch``: in the job's folder,
    where the reader that ends a job killed outright removes it too).
    """
    started = time.monotonic()
    objects = storage.list_objects(input_location)
    if not objects:
        raise storage.StorageError(f"{input_location}: no input objects")
    echo(f"{len(objects)} input object(s), {sum(o.size for o in objects):,} bytes")
    with _scratch_folder(scratch) as root:
        paths = OptMl(root)
        materialize_model(model, paths.model)
        port = free_port()
        environment = batch_environment(options)
        named = ServeContainer.named_for(engine, port)
        server = ModelServer(
            paths.root,
            port=port,
            environment=environment,
            log_path=report_dir / "serve.log",
            command=serve_command(engine, image, paths.model, port, environment, container=named),
            container=named,
        )
        try:  # stopped whatever ends the job, a signal while it starts included
            server.start()
            plan = Plan.resolve(options, server.execution_parameters())
            echo(f"settings: {plan.settings_line}")
            outcomes = transform_objects(
                objects,
                output_location,
                plan,
                server.port,
                echo=echo,
                progress_bar=sys.stderr.isatty() if progress_bar is None else progress_bar,
            )
        finally:
            server.stop()
            if server.container_note:
                echo(f"serve: {server.container_note}")
    failed = [o for o in outcomes if o.status != JobStatus.COMPLETED]
    result = TransformJobResult(
        name=name,
        status=JobStatus.FAILED if failed else JobStatus.COMPLETED,
        outcomes=outcomes,
        records=sum(o.records for o in outcomes),
        seconds=time.monotonic() - started,
        settings=plan.described,
    )
    if failed:
        first = failed[0]
        where = f", line {first.line}" if first.line else ""
        result.failure_reason = (
            f"{len(failed)} of {len(outcomes)} input object(s) failed; "
            f"{first.input}{where}: {first.reason}"
        )
    report_dir.mkdir(parents=True, exist_ok=True)
    result.report = report_dir / "report.json"
    result.report.write_text(
        json.dumps(
            {
                "name": name,
                "status": result.status,
                "failure_reason": result.failure_reason,
                "settings": plan.described,
                "objects": [vars(o) for o in outcomes],
            },
            indent=1,
        )
    )
    return result


@contextlib.contextmanager
def _scratch_folder(folder: Path) -> Iterator[Path]:
    """``folder``, created empty, removed at the end."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
