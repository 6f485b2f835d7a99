"""The AWS backend: SageMaker requests sent with boto3, each job kept in the job store.

The requests are the same shapes the local backend runs (see ``bigmart.local.requests``);
this module sends them and is the only writer of a remote job's local record, so
``bigmart jobs`` lists SageMaker jobs beside local ones and brings one still in progress up
to date from SageMaker when it is read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bigmart.aws import records as aws_records
from bigmart.aws.errors import JobFailed
from bigmart.aws.names import RequestError
from bigmart.contract import EndpointStatus, JobStatus
from bigmart.local.jobs import JobRecord, JobStore, one

#: The job store's kinds that are SageMaker jobs (an endpoint is refreshed by its own command).
REMOTE_JOB_KINDS = ("training", "transform")
ON_SAGEMAKER = "sagemaker"


class AwsJobs:
    """Remote jobs in the local job store: started, followed, refreshed, ended."""

    def __init__(self, store: JobStore) -> None:
        self.store = store

    def check_unused(self, name: str, kind: str) -> None:
        """Names are unique per kind in the job store, as on SageMaker: refuse before
        sending."""
        if self.store.get(name, kind) is not None:
            raise RequestError(f"{one(kind)} named {name!r} already exists; choose another --name")

    def started(
        self,
        name: str,
        kind: str,
        arn: str,
        parameters: Mapping[str, Any],
        placement: Mapping[str, Any],
    ) -> None:
        """Record a job SageMaker accepted (InProgress; it has no local owner)."""
        self.store.create(
            name,
            kind,
            {**parameters, "on": ON_SAGEMAKER, "arn": arn, **placement},
            JobStatus.IN_PROGRESS,
        )

    def follow(
        self, name: str, kind: str, waiter: Callable[[], Mapping[str, Any]]
    ) -> JobFailed | None:
        """Wait for the job's end with ``waiter`` and record it; the failure, if it failed."""
        try:
            job = waiter()
        except JobFailed as failure:
            self._record(name, kind, aws_records.outcome(kind, failure.description))
            return failure
        self._record(name, kind, aws_records.outcome(kind, job))
        return None

    def refresh(self, record: JobRecord, sagemaker: Callable[[str | None], Any]) -> JobRecord:
        """A remote job still in progress, brought up to date with Describe; anything else
        as it is. ``sagemaker(region)`` gives a client; its errors propagate."""
        remote = record.parameters.get("on") == ON_SAGEMAKER
        if not remote or record.kind not in REMOTE_JOB_KINDS or record.ended is not None:
            return record
        job = aws_records.describe(
            sagemaker(record.parameters.get("region")), record.kind, record.name
        )
        self._record(record.name, record.kind, aws_records.outcome(record.kind, job))
        return self.store.get(record.name, record.kind) or record

    def endpoint_in_service(self, name: str, parameters: Mapping[str, Any]) -> None:
        self.store.create(
            name, "endpoint", {**parameters, "on": ON_SAGEMAKER}, EndpointStatus.IN_SERVICE
        )

    def endpoint_deleted(self, name: str) -> None:
        if self.store.get(name, "endpoint") is not None:
            self.store.update(name, kind="endpoint", status=EndpointStatus.DELETED, ended=True)

    def _record(self, name: str, kind: str, outcome: aws_records.JobOutcome) -> None:
        self.store.update(
            name,
            kind=kind,
            status=outcome.status,
            metrics=outcome.metrics or None,
            artifacts=outcome.artifacts or None,
            failure_reason=outcome.failure_reason,
            ended=outcome.ended,
            ended_at=outcome.ended_at,
            created_at=outcome.created_at,
        )
