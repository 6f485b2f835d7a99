"""local.job_logs: a job's log kept and read back as CloudWatch Logs pages it, so the
SageMaker SDK's own log reader follows a local job."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bigmart.local import job_logs
from bigmart.local.job_logs import (
    TRAINING_LOG_GROUP,
    TRANSFORM_LOG_GROUP,
    LogWriter,
    MetricsCache,
    describe_log_streams,
    final_metrics,
    get_log_events,
    stream_path,
    training_stream,
)
from bigmart.local.jobs import RequestRefused
from bigmart.model.metrics import METRIC_DEFINITIONS


def _write(home: Path, stream: str, messages: list[str]) -> None:
    with LogWriter(home, TRAINING_LOG_GROUP, stream) as log:
        for message in messages:
            log(message)


def test_events_are_read_from_the_head_in_pages_and_the_token_stays_when_nothing_is_new(
    tmp_path,
):
    _write(tmp_path, "job/algo-1-1", [f"line {i}" for i in range(5)])
    first = get_log_events(
        tmp_path, TRAINING_LOG_GROUP, "job/algo-1-1", start_from_head=True, limit=3
    )
    assert [e["message"] for e in first["events"]] == ["line 0", "line 1", "line 2"]
    second = get_log_events(
        tmp_path, TRAINING_LOG_GROUP, "job/algo-1-1", next_token=first["nextForwardToken"]
    )
    assert [e["message"] for e in second["events"]] == ["line 3", "line 4"]
    done = get_log_events(
        tmp_path, TRAINING_LOG_GROUP, "job/algo-1-1", next_token=second["nextForwardToken"]
    )
    assert done["events"] == [] and done["nextForwardToken"] == second["nextForwardToken"]
    _write(tmp_path, "job/algo-1-1", ["line 5"])  # a running job logs on
    more = get_log_events(
        tmp_path, TRAINING_LOG_GROUP, "job/algo-1-1", next_token=done["nextForwardToken"]
    )
    assert [e["message"] for e in more["events"]] == ["line 5"]


def test_without_a_token_the_newest_events_come_and_backward_tokens_page_back(tmp_path):
    _write(tmp_path, "job/algo-1-1", [f"line {i}" for i in range(5)])
    newest = get_log_events(tmp_path, TRAINING_LOG_GROUP, "job/algo-1-1", limit=2)
    assert [e["message"] for e in newest["events"]] == ["line 3", "line 4"]
    older = get_log_events(
        tmp_path,
        TRAINING_LOG_GROUP,
        "job/algo-1-1",
        next_token=newest["nextBackwardToken"],
        limit=2,
    )
    assert [e["message"] for e in older["events"]] == ["line 1", "line 2"]


def test_the_time_window_is_start_inclusive_end_exclusive(tmp_path):
    path = stream_path(tmp_path, TRAINING_LOG_GROUP, "job/algo-1-1")
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps({"t": t, "m": f"at {t}"}) + "\n" for t in (10, 20, 30)))
    window = get_log_events(
        tmp_path,
        TRAINING_LOG_GROUP,
        "job/algo-1-1",
        start_from_head=True,
        start_time=20,
        end_time=30,
    )
    assert [e["message"] for e in window["events"]] == ["at 20"]


def test_a_half_written_or_damaged_line_is_not_an_event(tmp_path):
    path = stream_path(tmp_path, TRAINING_LOG_GROUP, "job/algo-1-1")
    path.parent.mkdir(parents=True)
    path.write_text('{"t": 1, "m": "whole"}\nnot json\n{"t": 2, "m": "cut sho')
    page = get_log_events(tmp_path, TRAINING_LOG_GROUP, "job/algo-1-1", start_from_head=True)
    assert [e["message"] for e in page["events"]] == ["whole"]


def test_streams_are_listed_by_prefix_with_their_times(tmp_path):
    _write(tmp_path, "a/algo-1-1", ["x"])
    _write(tmp_path, "ab/algo-1-1", ["y"])
    _write(tmp_path, "b/algo-1-1", ["z"])
    streams = describe_log_streams(tmp_path, TRAINING_LOG_GROUP, "a/")
    assert [s["logStreamName"] for s in streams] == ["a/algo-1-1"]
    assert streams[0]["firstEventTimestamp"] <= streams[0]["lastEventTimestamp"]
    assert describe_log_streams(tmp_path, TRANSFORM_LOG_GROUP) == []


@pytest.mark.parametrize(
    ("group", "stream"),
    [
        (TRAINING_LOG_GROUP, "../../../etc/passwd"),
        (TRAINING_LOG_GROUP, "job/../../x"),
        (TRAINING_LOG_GROUP, "/abs/path"),
        (TRAINING_LOG_GROUP, "job//x"),
        ("/aws/sagemaker/Other", "job/algo-1-1"),
    ],
)
def test_names_from_a_request_never_reach_another_path(tmp_path, group, stream):
    with pytest.raises(RequestRefused, match="does not exist"):
        get_log_events(tmp_path, group, stream)


def test_a_bad_token_is_refused(tmp_path):
    _write(tmp_path, "job/algo-1-1", ["x"])
    with pytest.raises(RequestRefused, match="nextToken"):
        get_log_events(tmp_path, TRAINING_LOG_GROUP, "job/algo-1-1", next_token="f/../1")


def test_the_sagemaker_sdk_reads_a_local_stream_whole_once(tmp_path):
    """``sagemaker.logs.log_stream`` is what ``fit(logs=True)`` uses to follow a job."""
    from sagemaker.logs import log_stream

    stream = training_stream("fit-job", 1_700_000_000)
    _write(tmp_path, stream, [f"epoch {i}" for i in range(25)])

    class Logs:  # the CloudWatch Logs client the SDK is given, answering from here
        def get_log_events(self, **request):  # type: ignore[no-untyped-def]
            return get_log_events(
                tmp_path,
                request["logGroupName"],
                request["logStreamName"],
                start_from_head=request.get("startFromHead", False),
                next_token=request.get("nextToken"),
                start_time=request.get("startTime"),
            )

    read = [event["message"] for event in log_stream(Logs(), TRAINING_LOG_GROUP, stream)]
    assert read == [f"epoch {i}" for i in range(25)]


def test_final_metrics_are_the_last_value_each_metric_regex_reads():
    lines = [
        "#quality_metric: host=algo-1, train rmse <loss>=1100.5",
        "validation:rmse=1090.25;",
        "noise validation:rmse=oops",
        "validation:rmse=1080.125;",
    ]
    found = final_metrics(lines, METRIC_DEFINITIONS)
    assert found.get("validation:rmse") == 1080.125
    assert all(isinstance(value, float) for value in found.values())


def test_the_metrics_cache_reads_a_stream_again_only_when_it_grew(tmp_path, monkeypatch):
    _write(tmp_path, "job/algo-1-1", ["validation:rmse=1090.25;"])
    path = stream_path(tmp_path, TRAINING_LOG_GROUP, "job/algo-1-1")
    cache = MetricsCache()
    reads = []
    real = job_logs.read_messages
    monkeypatch.setattr(job_logs, "read_messages", lambda p: reads.append(p) or real(p))

    assert cache.read(path, METRIC_DEFINITIONS)["validation:rmse"] == 1090.25
    assert cache.read(path, METRIC_DEFINITIONS)["validation:rmse"] == 1090.25
    assert len(reads) == 1  # the second Describe did not read the log again
    _write(tmp_path, "job/algo-1-1", ["validation:rmse=1080.5;"])
    assert cache.read(path, METRIC_DEFINITIONS)["validation:rmse"] == 1080.5
    assert len(reads) == 2
