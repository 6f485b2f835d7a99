"""What a SageMaker training or transform job's Describe* answer means for ``bigmart jobs``.

Remote jobs are kept in the same job store as local ones, so ``bigmart jobs`` lists
everything a user launched; a record still in progress is brought up to date from
SageMaker when it is shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bigmart.aws import training as aws_training
from bigmart.aws import transform as aws_transform
from bigmart.contract import JobStatus

#: The job store's kind -> (Describe* call, its name argument, its status field).
DESCRIBE = {
    "training": ("describe_training_job", "TrainingJobName", "TrainingJobStatus"),
    "transform": ("describe_transform_job", "TransformJobName", "TransformJobStatus"),
    "endpoint": ("describe_endpoint", "EndpointName", "EndpointStatus"),
}


@dataclass(frozen=True)
class JobOutcome:
    """A remote job's state in the job store's terms."""

    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    failure_reason: str | None = None
    ended_at: float | None = None
    created_at: float | None = None

    @property
    def ended(self) -> bool:
        return self.status in JobStatus.TERMINAL


def describe(sm: Any, kind: str, name: str) -> dict[str, Any]:
    """DescribeTrainingJob or DescribeTransformJob, by the job store's kind."""
    method, argument, _ = DESCRIBE[kind]
    answer: dict[str, Any] = getattr(sm, method)(**{argument: name})
    return answer


def outcome(kind: str, job: Mapping[str, Any]) -> JobOutcome:
    """Status, final metrics, artifact locations, failure reason and end time of a job."""
    status = str(job[DESCRIBE[kind][2]])
    metrics = {m["MetricName"]: float(m["Value"]) for m in job.get("FinalMetricDataList", [])}
    artifacts = {}
    if model := job.get("ModelArtifacts", {}).get("S3ModelArtifacts"):
        artifacts["model"] = str(model)
    if output := job.get("TransformOutput", {}).get("S3OutputPath"):
        artifacts["output"] = str(output)
    failure = None
    if status in (JobStatus.FAILED, JobStatus.STOPPED):
        explain = aws_training if kind == "training" else aws_transform
        failure = explain.failure_reason(job)
    end = job.get("TrainingEndTime") or job.get("TransformEndTime")
    ended_at = end.timestamp() if end is not None and status in JobStatus.TERMINAL else None
    created = job.get("CreationTime")
    created_at = created.timestamp() if created is not None else None
    return JobOutcome(status, metrics, artifacts, failure, ended_at, created_at)
