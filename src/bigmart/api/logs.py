"""CloudWatch Logs for local jobs: DescribeLogStreams and GetLogEvents over ``job_logs``.

The SageMaker SDK's ``fit()`` and ``transform(logs=True)``, and ``aws logs tail``, follow a
job by listing the streams of ``/aws/sagemaker/TrainingJobs`` (or ``TransformJobs``) whose
names start with the job's, then paging each with GetLogEvents. Both calls are answered
here from the streams local jobs write, with CloudWatch's error codes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bigmart.api.errors import ApiError, unknown_operation
from bigmart.local.job_logs import LogNotFound, describe_log_streams, get_log_events
from bigmart.local.jobs import RequestRefused

Operation = Callable[[Mapping[str, Any]], dict[str, Any]]


class LogsPlane:
    """The two CloudWatch Logs operations a job's log is read with."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.operations: dict[str, Operation] = {
            "DescribeLogStreams": self.describe_log_streams,
            "GetLogEvents": self.get_log_events,
        }

    def serves(self, operation: str) -> bool:
        return operation in self.operations

    def call(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
        handler = self.operations.get(operation)
        if handler is None:
            raise unknown_operation(f"Logs_20140328.{operation}")
        try:
            return handler(request)
        except LogNotFound as error:
            raise ApiError("ResourceNotFoundException", str(error)) from None
        except RequestRefused as error:
            raise ApiError("InvalidParameterException", str(error)) from None

    def describe_log_streams(self, request: Mapping[str, Any]) -> dict[str, Any]:
        streams = describe_log_streams(
            self.home,
            request["logGroupName"],
            request.get("logStreamNamePrefix", ""),
            descending=bool(request.get("descending", False)),
            limit=int(request.get("limit", 50)),
        )
        return {"logStreams": streams}

    def get_log_events(self, request: Mapping[str, Any]) -> dict[str, Any]:
        return get_log_events(
            self.home,
            request["logGroupName"],
            request["logStreamName"],
            start_from_head=bool(request.get("startFromHead", False)),
            next_token=request.get("nextToken"),
            start_time=request.get("startTime"),
            end_time=request.get("endTime"),
            limit=int(request.get("limit", 10_000)),
        )
