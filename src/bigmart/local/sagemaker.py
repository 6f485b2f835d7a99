"""The local backend: SageMaker's requests, run on this machine.

``LocalSageMaker`` takes the requests boto3's SageMaker client sends (CreateTrainingJob,
CreateModel, CreateEndpointConfig, CreateTransformJob, ...) with the same field names and
answers Describe/List in SageMaker's shapes, so the CLI, and later unmodified boto3 code,
talk to this machine exactly as they would talk to AWS. As in the SageMaker SDK's local
mode, a Create call for a job runs the job to its end before it returns; a failed job is
not an exception but a status, read with Describe.

Every job's record is written here and only here, through ``job_lifecycle``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bigmart.contract import JobStatus
from bigmart.local import storage
from bigmart.local.endpoints import LocalEndpoints
from bigmart.local.engines import DEFAULT_IMAGE, EngineError
from bigmart.local.job_logs import (
    TRAINING_LOG_GROUP,
    TRANSFORM_LOG_GROUP,
    LogWriter,
    MetricsCache,
    stream_path,
    training_stream,
    transform_stream,
)
from bigmart.local.jobs import JobRecord, JobStore
from bigmart.local.lifecycle import Echo, Outcome, RequestRefused, job_lifecycle
from bigmart.local.requests import (
    arn,
    time_of,
    training_channels,
    transform_locations,
    transform_options,
)
from bigmart.local.training import job_folder, run_training_job
from bigmart.model.hyperparameters import HyperParameters


class LocalSageMaker(LocalEndpoints):
    """SageMaker's control plane for jobs run here (``--instance-type local``)."""

    def __init__(self, store: JobStore, *, engine: str = "process", echo: Echo = print) -> None:
        self.store = store
        self.engine = engine
        self.echo = echo
        self._metrics_cache = MetricsCache()

    # -- training jobs -------------------------------------------------------------------

    def create_training_job(self, request: Mapping[str, Any]) -> dict[str, str]:
        """Run a training job to its end: channels staged, ``train`` run, the model and
        output archives written under ``S3OutputPath/<name>/output`` (uploaded for s3://)."""
        name = request["TrainingJobName"]
        hyperparameters = dict(request.get("HyperParameters") or {})
        try:
            HyperParameters.from_strings(hyperparameters)
        except ValueError as error:
            raise RequestRefused(str(error)) from None
        channels = training_channels(request)
        if "training" not in channels:
            raise RequestRefused("channel 'training' is required (train reads its data from it)")
        output = request["OutputDataConfig"]["S3OutputPath"]
        job_dir = self._job_dir(name, output)
        if job_dir.exists():
            raise RequestRefused(f"job folder {job_dir} already exists; choose another name")
        image = request.get("AlgorithmSpecification", {}).get("TrainingImage") or DEFAULT_IMAGE
        with (
            self._lifecycle(name, "training", request) as outcome,
            self._job_log(name, "training", TRAINING_LOG_GROUP, training_stream, image) as echo,
        ):
            staged = self._stage_channels(channels, job_dir)
            echo(f"Training job {name}: {job_dir}")
            result = run_training_job(
                name,
                job_dir,
                staged,
                hyperparameters,
                echo=echo,
                engine=self.engine,
                image=image,
            )
            outcome.metrics = result.metrics
            if result.status != JobStatus.COMPLETED or result.model_archive is None:
                outcome.fail(result.failure_reason or "train failed", result.status)
            else:
                outcome.artifacts = self._publish_training(name, output, result.model_archive)
        return {"TrainingJobArn": arn("training-job", name)}

    def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        record = self._record(TrainingJobName, "training")
        request = record.parameters
        answer: dict[str, Any] = {
            **{key: value for key, value in request.items() if key != "Tags"},
            "TrainingJobArn": arn("training-job", record.name),
            # SageMaker always answers a KmsKeyId ("" when none); Estimator.attach reads it.
            "OutputDataConfig": {"KmsKeyId": "", **request.get("OutputDataConfig", {})},
            "TrainingJobStatus": record.status,
            "SecondaryStatus": _secondary_status(record.status),
            "SecondaryStatusTransitions": _secondary_transitions(record),
            "ModelArtifacts": {"S3ModelArtifacts": record.artifacts.get("model", "")},
            "CreationTime": time_of(record.created),
            "TrainingStartTime": time_of(record.created),
            "LastModifiedTime": time_of(record.ended or record.created),
            "FinalMetricDataList": [
                {"MetricName": key, "Value": float(value), "Timestamp": time_of(record.ended)}
                for key, value in sorted(self._final_metrics(record).items())
                if isinstance(value, int | float) and math.isfinite(value)
            ],
        }
        if record.ended:
            answer["TrainingTimeInSeconds"] = max(1, round(record.ended - record.created))
        return _with_ending(answer, record, "TrainingEndTime")

    def list_training_jobs(self, **_: Any) -> dict[str, Any]:
        return {"TrainingJobSummaries": _summaries(self.store.list("training"), "Training")}

    # -- models --------------------------------------------------------------------------

    def create_model(self, request: Mapping[str, Any]) -> dict[str, str]:
        """Record a model: the image to serve with and where its archive or folder is."""
        name = request["ModelName"]
        container = request.get("PrimaryContainer") or {}
        if not container.get("ModelDataUrl"):
            raise RequestRefused(f"model {name!r}: PrimaryContainer.ModelDataUrl is required")
        self.store.put_resource("model", name, request)
        return {"ModelArn": arn("model", name)}

    def describe_model(self, ModelName: str) -> dict[str, Any]:
        request, created = self.store.resource("model", ModelName, "model")
        return {**request, "ModelArn": arn("model", ModelName), "CreationTime": time_of(created)}

    def delete_model(self, ModelName: str) -> dict[str, Any]:
        if not self.store.delete_resource("model", ModelName):
            raise RequestRefused(f"Could not find model {ModelName!r}.")
        return {}

    # -- transform jobs ------------------------------------------------------------------

    def create_transform_job(self, request: Mapping[str, Any]) -> dict[str, str]:
        """Run a batch transform job to its end with the model ``ModelName``: every input
        object scored into ``<S3OutputPath>/<object>.out``; a bad object fails the job, not
        the others; a report is kept in the job's folder."""
        from bigmart.local.transform.job import run_transform_job

        name = request["TransformJobName"]
        try:
            options = transform_options(request)
        except ValueError as error:
            raise RequestRefused(str(error)) from None
        container = self.describe_model(request["ModelName"])["PrimaryContainer"]
        source, destination = transform_locations(request)
        image = container.get("Image") or DEFAULT_IMAGE
        with (
            self._lifecycle(name, "transform", request) as outcome,
            self._job_log(name, "transform", TRANSFORM_LOG_GROUP, transform_stream, image) as echo,
        ):
            result = run_transform_job(
                name,
                container["ModelDataUrl"],
                source,
                destination,
                options,
                report_dir=self.store.home / "jobs" / name,
                scratch=self.store.scratch("transform", name),
                echo=echo,
                engine=self.engine,
                image=image,
            )
            rate = result.records / result.seconds if result.seconds else 0.0
            outcome.metrics = {
                "records": result.records,
                "seconds": round(result.seconds, 3),
                "records_per_second": round(rate, 1),
            }
            outcome.artifacts = {
                "outputs": [o.output for o in result.outcomes if o.status == JobStatus.COMPLETED],
                "report": str(result.report),
                "objects": [vars(o) for o in result.outcomes],
            }
            for done in result.outcomes:  # the CLI prints these from the record itself
                where = f"line {done.line}: " if done.line else ""
                detail = f"{done.records:,} records" if not done.reason else where + done.reason
                echo.stream_only(f"{done.status} {done.input} -> {done.output} ({detail})")
            echo.stream_only(f"{result.status}: {result.records:,} records in {rate:,.0f}/s")
            if result.status != JobStatus.COMPLETED:
                outcome.fail(result.failure_reason or "the transform failed", result.status)
        return {"TransformJobArn": arn("transform-job", name)}

    def describe_transform_job(self, TransformJobName: str) -> dict[str, Any]:
        record = self._record(TransformJobName, "transform")
        answer: dict[str, Any] = {
            **record.parameters,
            "TransformJobArn": arn("transform-job", record.name),
            "TransformJobStatus": record.status,
            "CreationTime": time_of(record.created),
            "TransformStartTime": time_of(record.created),
        }
        return _with_ending(answer, record, "TransformEndTime")

    def list_transform_jobs(self, **_: Any) -> dict[str, Any]:
        return {"TransformJobSummaries": _summaries(self.store.list("transform"), "Transform")}

    # -- shared --------------------------------------------------------------------------

    def _lifecycle(
        self, name: str, kind: str, request: Mapping[str, Any], **options: Any
    ) -> AbstractContextManager[Outcome]:
        return job_lifecycle(self.store, name, kind, request, refused=(EngineError,), **options)

    def _final_metrics(self, record: JobRecord) -> dict[str, Any]:
        """As SageMaker: the job's MetricDefinitions run over its log, when it has them;
        else what ``train`` wrote to metrics.json."""
        definitions = record.parameters.get("AlgorithmSpecification", {}).get("MetricDefinitions")
        stream = stream_path(
            self.store.home, TRAINING_LOG_GROUP, training_stream(record.name, record.created)
        )
        if not definitions or not stream.exists():
            return record.metrics
        return self._metrics_cache.read(stream, definitions)

    @contextmanager
    def _job_log(
        self, name: str, kind: str, group: str, stream: Callable[[str, float], str], image: str
    ) -> Iterator[JobLog]:
        """The job's log: to ``echo`` and, as on SageMaker, to its CloudWatch-style stream
        (``job_logs``), named from the record's creation time so Describe can find it."""
        record = self.store.get(name, kind)
        started = record.created if record is not None else time.time()
        with LogWriter(self.store.home, group, stream(name, started)) as log:
            job_log = JobLog(self.echo, log)
            if self.engine == "process":
                job_log.stream_only(
                    f"engine process: this job runs the installed bigmart, not {image!r}"
                )
            yield job_log

    def _record(self, name: str, kind: str) -> JobRecord:
        record = self.store.get(name, kind)
        if record is None:
            raise RequestRefused(f"Requested resource not found: {kind} job {name!r}")
        return record

    def _job_dir(self, name: str, output: str) -> Path:
        return job_folder(self.store.home, name, output)

    def _stage_channels(self, channels: Mapping[str, str], job_dir: Path) -> dict[str, Path]:
        """Each channel as a local path; S3 channels are downloaded keeping the key tree."""
        staged: dict[str, Path] = {}
        for channel, location in channels.items():
            if storage.is_s3(location):
                target = job_dir / "downloads" / channel
                storage.download_tree(location, target)
                staged[channel] = target
            elif Path(location).exists():
                staged[channel] = Path(location)
            else:
                raise RequestRefused(f"channel {channel!r}: {location}: no such file or folder")
        return staged

    def _publish_training(self, name: str, output: str, model_archive: Path) -> dict[str, str]:
        """Where the model and output archives are; uploaded first for an S3 output."""
        artifacts = {
            "model": str(model_archive),
            "output": str(model_archive.with_name("output.tar.gz")),
        }
        if storage.is_s3(output):
            prefix = storage.join(output, f"{name}/output")
            for key, path in list(artifacts.items()):
                destination = storage.join(prefix, Path(path).name)
                storage.upload_file(path, destination)
                artifacts[key] = destination
        return artifacts


@dataclass
class JobLog:
    """A running job's log: ``echo`` (the terminal, for the CLI) and the job's stream.

    The terminal is only a view of the log: if writing to it fails (its reader went away),
    the job runs on without it and the stream keeps every line."""

    echo: Echo | None
    stream: Echo

    def __call__(self, line: str) -> None:
        self.stream(line)
        if self.echo is None:
            return
        try:
            self.echo(line)
        except OSError:
            self.echo = None

    def stream_only(self, line: str) -> None:
        """A line for the job's log readers (``bigmart api``, the SDK) alone: the CLI shows
        the same from the record, or has no use for it."""
        self.stream(line)


def _secondary_status(status: str) -> str:
    return "Training" if status == JobStatus.IN_PROGRESS else status


#: SageMaker's StatusMessage of each secondary status a local job passes through.
SECONDARY_MESSAGES = {
    "Training": "Training image download completed. Training in progress.",
    JobStatus.COMPLETED: "Training job completed",
    JobStatus.FAILED: "Training job failed",
    JobStatus.STOPPED: "Training job stopped",
}


def _secondary_transitions(record: JobRecord) -> list[dict[str, Any]]:
    """SecondaryStatusTransitions, as the SDK's ``fit()`` prints them: the job trains from
    its creation (staging and ``train`` are one step here), then ends in its status."""
    training: dict[str, Any] = {
        "Status": "Training",
        "StartTime": time_of(record.created),
        "StatusMessage": SECONDARY_MESSAGES["Training"],
    }
    if record.status not in JobStatus.TERMINAL:
        return [training]
    ended = time_of(record.ended or record.created)
    final = {
        "Status": record.status,
        "StartTime": ended,
        "EndTime": ended,
        "StatusMessage": SECONDARY_MESSAGES[record.status],
    }
    return [{**training, "EndTime": ended}, final]


def _with_ending(answer: dict[str, Any], record: JobRecord, end_field: str) -> dict[str, Any]:
    """A Describe answer with the job's end time and, unless it completed, its reason."""
    if record.ended:
        answer[end_field] = time_of(record.ended)
    if record.failure_reason and record.status != JobStatus.COMPLETED:
        answer["FailureReason"] = record.failure_reason
    return answer


def _summaries(records: list[JobRecord], kind: str) -> list[dict[str, Any]]:
    """List* answers, unpaged: ``kind`` is Training or Transform; newest first."""
    arn_kind = f"{kind.lower()}-job"
    return [
        {
            f"{kind}JobName": record.name,
            f"{kind}JobArn": arn(arn_kind, record.name),
            "CreationTime": time_of(record.created),
            f"{kind}JobStatus": record.status,
            "LastModifiedTime": time_of(record.ended or record.created),
            **({f"{kind}EndTime": time_of(record.ended)} if record.ended else {}),
        }
        for record in reversed(records)
    ]
