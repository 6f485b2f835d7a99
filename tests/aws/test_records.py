"""bigmart.aws.records: a described SageMaker job as the outcome the job store records."""

from __future__ import annotations

from datetime import UTC, datetime

from bigmart.aws import records as aws_records
from support.sagemaker import described_training_job


def test_a_failed_or_stopped_job_is_recorded_with_its_reason_and_times() -> None:
    started, ended = (
        datetime(2026, 6, 1, 12, 0, tzinfo=UTC),
        datetime(2026, 6, 1, 12, 5, tzinfo=UTC),
    )
    failed = described_training_job(
        "Failed", "Failed", FailureReason="bad row 7", CreationTime=started, TrainingEndTime=ended
    )
    recorded = aws_records.outcome("training", failed)
    assert (recorded.status, recorded.failure_reason, recorded.ended) == (
        "Failed",
        "bad row 7",
        True,
    )
    assert recorded.ended_at - recorded.created_at == 300
    timed_out = aws_records.outcome(
        "training", described_training_job("Stopped", "MaxRuntimeExceeded")
    )
    assert "max_run_seconds" in timed_out.failure_reason
    stopped = aws_records.outcome("transform", {"TransformJobStatus": "Stopped"})
    assert stopped.failure_reason == "stopped before completing (StopTransformJob)"
    running = aws_records.outcome("transform", {"TransformJobStatus": "InProgress"})
    assert (running.ended, running.failure_reason, running.ended_at) == (False, None, None)
