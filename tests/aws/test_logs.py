"""bigmart.aws.logs: following a job's CloudWatch log (moto's logs on 127.0.0.1)."""

from __future__ import annotations

import boto3

from bigmart import aws
from support.sagemaker import put_log_events


def test_log_tail_echoes_each_event_once_and_tolerates_missing_streams(
    boto: boto3.Session,
) -> None:
    lines: list[str] = []
    tail = aws.LogTail(boto.client("logs"), "/aws/sagemaker/TrainingJobs", "job/", lines.append)
    assert tail.poll() == 0  # no log group yet: the instances have not started

    put_log_events(boto, "/aws/sagemaker/TrainingJobs", "job/algo-1-1", ["one", "two"])
    put_log_events(boto, "/aws/sagemaker/TrainingJobs", "other-job/algo-1-1", ["not ours"])
    assert tail.poll() == 2
    assert tail.poll() == 0
    put_log_events(boto, "/aws/sagemaker/TrainingJobs", "job/algo-1-1", ["three"])
    assert tail.poll() == 1
    assert lines == ["one", "two", "three"]

    put_log_events(boto, "/aws/sagemaker/TrainingJobs", "job/algo-2-1", ["host two"])
    assert tail.poll() == 1
    assert lines[-1] == "[algo-2-1] host two"  # several hosts: each line says whose
