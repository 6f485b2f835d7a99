"""CloudWatch Logs for local jobs: DescribeLogStreams and GetLogEvents over ``job_logs``.

The SageMaker SDK's ``fit()`` and ``transform(logs=True)``, and ``aws logs tail``, follow a
job by listing the streams of ``/aws/sagemaker/TrainingJobs`` (or ``TransformJobs``) whose
names start with the job's, then paging each with GetLogEvents. Both calls are answered
here from the streams local jobs write, with CloudWatch's error codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bigmart.api.errors import ApiError
from bigmart.api.plane import Operation, Plane
from bigmart.local.job_logs import LogNotFound, describe_log_streams, get_log_events
from bigmart.local.jobs import RequestRefused


class LogsPlane(Plane):
    """The two CloudWatch Logs operations a job's log is read with."""

    target = "Logs_20140328"

    def __init__(self, home: Path) -> None:
        self.home = home
        self.operations: dict[str, Operation] = {
            "DescribeLogStreams": self.describe_log_streams,
            "GetLogEvents": self.get_log_events,
        }

    def call(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
        """CloudWatch's error codes for a missing log and a bad parameter."""
        try:
            return super().call(operation, request)
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
