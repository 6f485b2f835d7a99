"""``drift_report``: a model (folder, archive, S3) and its endpoint's capture (folder, S3)
to the drift document; a model without a baseline and an empty capture are one-line errors."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bigmart.container.capture_files import file_key
from bigmart.local.drift import NoBaseline, NothingCaptured, drift_report
from bigmart.model.artifact import read_model, write_model
from support.capture import capture_lines, scored_exchanges, write_capture_file


@pytest.fixture(scope="module")
def shifted_lines(trained_model: Path, real_test_csv: Path) -> bytes:
    """600 real test rows with Item_MRP tripled, in 3 requests, as capture lines."""
    exchanges = scored_exchanges(
        trained_model, real_test_csv, rows=600, per_request=200, mrp_factor=3.0
    )
    return capture_lines(time.time(), exchanges, text=False)


def test_s3_capture_against_an_s3_model_archive(s3, model_archive, shifted_lines):
    client, bucket = s3
    client.upload_file(str(model_archive), bucket, "models/model.tar.gz")
    key = file_key("captured/ep/AllTraffic", time.time())
    client.put_object(Bucket=bucket, Key=key, Body=shifted_lines)
    client.put_object(Bucket=bucket, Key="captured/ep/AllTraffic/.hidden.jsonl.part", Body=b"x")
    document = drift_report(f"s3://{bucket}/models/model.tar.gz", f"s3://{bucket}/captured")
    assert (document["rows"], document["requests"], document["answered_requests"]) == (600, 3, 3)
    assert document["drifted"] == ["Item_MRP"]
    assert document["predictions"]["drift"] is True and document["predictions"]["rows"] == 600
    assert document["sources"] == {f"s3://{bucket}/captured/ep/AllTraffic": 3}
    assert document["read"] == {
        "files": 1,
        "files_before_since": 0,
        "lines": 3,
        "before_since": 0,
        "unreadable": 0,
        "unreadable_lines": [],
    }
    json.dumps(document, allow_nan=False)


def test_max_rows_keeps_the_newest_files(tmp_path, trained_model, shifted_lines):
    old, new = time.time() - 7200, time.time()
    write_capture_file(tmp_path, "ep", old, shifted_lines)
    write_capture_file(tmp_path, "ep", new, shifted_lines)
    document = drift_report(str(trained_model), str(tmp_path), max_rows=400)
    assert document["rows"] == 400 and document["requests"] == 2  # whole requests
    assert document["truncated"] is True and document["max_rows"] == 400
    assert document["first"] >= time.strftime("%Y-%m-%dT%H", time.gmtime(new))
    whole = drift_report(str(trained_model), str(tmp_path))
    assert whole["rows"] == 1200 and whole["truncated"] is False


def test_a_model_without_a_baseline_is_refused_in_one_line(tmp_path, trained_model):
    older = read_model(trained_model)
    older.baseline = None
    write_model(older, tmp_path / "old-model")
    with pytest.raises(NoBaseline) as refused:
        drift_report(str(tmp_path / "old-model"), str(tmp_path))
    message = str(refused.value)
    assert "predates baseline statistics" in message and "\n" not in message
    assert refused.value.exit_code == 2


def test_nothing_captured_says_why(tmp_path, trained_model, shifted_lines):
    (tmp_path / "empty").mkdir()
    with pytest.raises(NothingCaptured, match="is data capture on"):
        drift_report(str(trained_model), str(tmp_path / "empty"))
    write_capture_file(tmp_path / "old", "ep", time.time() - 86400, shifted_lines)
    from datetime import UTC, datetime

    with pytest.raises(NothingCaptured, match="try an earlier --since"):
        drift_report(
            str(trained_model),
            str(tmp_path / "old"),
            since=datetime.fromtimestamp(time.time() - 3600 * 12 - 1800, UTC),
        )
    write_capture_file(tmp_path / "bad", "ep", time.time(), b"garbage\n")
    with pytest.raises(
        NothingCaptured, match=r"1 unreadable line\(s\), the first .*line 1: not JSON"
    ):
        drift_report(str(trained_model), str(tmp_path / "bad"))
