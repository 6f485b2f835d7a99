"""Capture files read back for ``bigmart drift``: SageMaker's lines (CSV, JSON, BASE64)
decoded by serve's own decoders, malformed lines counted with file and line, ``--since``."""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from bigmart import codecs
from bigmart.errors import UsageError
from bigmart.local import captures
from bigmart.local.captures import CaptureReader, numbered_lines, parse_since
from bigmart.schema import FEATURES
from support.capture import capture_lines, write_capture_file

ROW = (
    "FDW58,20.75,Low Fat,0.007564836,Snack Foods,107.8622,OUT049,1999,Medium,Tier 1,"
    "Supermarket Type1"
)
HEADER = ",".join(FEATURES)
#: A line exactly as SageMaker's documentation shows one (a CSV request without its final
#: newline, an answer typed "text/csv; charset=utf-8"), with a Big Mart row.
SAGEMAKER_LINE = json.dumps(
    {
        "captureData": {
            "endpointInput": {
                "observedContentType": "text/csv",
                "mode": "INPUT",
                "data": ROW,
                "encoding": "CSV",
            },
            "endpointOutput": {
                "observedContentType": "text/csv; charset=utf-8",
                "mode": "OUTPUT",
                "data": "1830.95",
                "encoding": "CSV",
            },
        },
        "eventMetadata": {
            "eventId": "8f45e35c-fa44-40d2-8ed3-1bcab3a596f3",
            "inferenceTime": "2020-07-30T13:36:30Z",
        },
        "eventVersion": "0",
    },
    separators=(",", ":"),
).encode()
#: Bodies of each content type serve takes, and answers of each type it writes.
EXCHANGES = [
    (f"{ROW}\n{ROW}\n".encode(), "text/csv", b"1.5\n2.5\n", "text/csv"),
    (f"{HEADER}\n{ROW}\n".encode(), "text/csv", b'{"predictions":[3.5]}', "application/json"),
    (
        json.dumps({"instances": [ROW.split(",")]}).encode(),
        "application/json",
        b'{"prediction":4.5}\n',
        "application/jsonlines",
    ),
    (
        json.dumps({"Item_MRP": 99.5, "Outlet_Type": "Grocery Store"}).encode(),
        "application/json; charset=utf-8",
        b"5.5\n",
        "text/csv",
    ),
    (
        (json.dumps(dict(zip(FEATURES, ROW.split(","), strict=True))) + "\n").encode(),
        "application/jsonlines",
        b"6.5\n",
        "text/csv",
    ),
]


def read_all(location: Path | str, **options) -> tuple[CaptureReader, list]:
    reader = CaptureReader(str(location), **options)
    return reader, list(reader.requests())


def same_batch(a: dict, b: dict) -> bool:
    for name in FEATURES:
        if isinstance(a[name], np.ndarray):
            if not np.array_equal(a[name], b[name], equal_nan=True):
                return False
        elif list(a[name]) != list(b[name]):
            return False
    return True


def test_sagemakers_own_line_is_read(tmp_path):
    write_capture_file(tmp_path, "ep", 1596116190.0, SAGEMAKER_LINE + b"\n")
    reader, requests = read_all(tmp_path)
    (request,) = requests
    assert request.at == datetime(2020, 7, 30, 13, 36, 30, tzinfo=UTC)
    assert request.predictions.tolist() == [1830.95]
    assert request.rows["Item_MRP"].tolist() == [107.8622]
    assert request.source == str(tmp_path / "ep" / "AllTraffic")
    assert (reader.files, reader.lines, reader.unreadable_count) == (1, 1, 0)


@pytest.mark.parametrize("text", [True, False], ids=["as-text", "base64"])
def test_each_body_parses_as_serve_parsed_it(tmp_path, text):
    at = time.time()
    write_capture_file(tmp_path, "ep", at, capture_lines(at, EXCHANGES, text=text))
    if not text:
        assert b'"encoding":"BASE64"' in next(tmp_path.rglob("*.jsonl")).read_bytes()
    reader, requests = read_all(tmp_path)
    assert reader.unreadable_count == 0 and len(requests) == len(EXCHANGES)
    for request, (body, kind, answer, answer_kind) in zip(requests, EXCHANGES, strict=True):
        assert same_batch(request.rows, codecs.decode(body, kind))
        assert (
            request.predictions.tolist() == codecs.decode_predictions(answer, answer_kind).tolist()
        )
    assert [len(r.predictions) for r in requests] == [2, 1, 1, 1, 1]


def test_malformed_lines_are_counted_with_file_and_line_never_fatal(tmp_path):
    at = time.time()
    good = capture_lines(at, EXCHANGES[:1])
    no_base64 = json.loads(good)
    no_base64["captureData"]["endpointInput"].update(encoding="BASE64", data="%%%")
    bad_body = json.loads(good)
    bad_body["captureData"]["endpointInput"]["data"] = "not,a,row\n"
    bad_answer = json.loads(good)
    bad_answer["captureData"]["endpointOutput"]["data"] = "oops\n"
    other_encoding = json.loads(good)
    other_encoding["captureData"]["endpointOutput"]["encoding"] = "GZIP"
    no_time = json.loads(good)
    del no_time["eventMetadata"]["inferenceTime"]
    lines = [
        good,  # line 1
        b"this is not json\n",  # 2
        b"\n",  # blank: skipped, not counted
        b'{"eventVersion": "0"}\n',  # 4
        json.dumps(no_base64).encode() + b"\n",  # 5
        json.dumps(bad_body).encode() + b"\n",  # 6
        json.dumps(bad_answer).encode() + b"\n",  # 7
        json.dumps(other_encoding).encode() + b"\n",  # 8
        json.dumps(no_time).encode() + b"\n",  # 9
        b'{"captureData": {}, "eventMetadata": {"inferenceTime": "2024-05-01T00:00:00Z"}}\n',
        good.rstrip(b"\n"),  # 11, the last line without a newline
    ]
    path = write_capture_file(tmp_path, "ep", at, b"".join(lines))
    reader, requests = read_all(tmp_path)
    assert len(requests) == 2 and reader.lines == 10
    assert reader.unreadable_count == 8
    found = {u.line: u.reason for u in reader.unreadable}
    assert all(u.file == str(path) for u in reader.unreadable)
    assert set(found) == {2, 4, 5, 6, 7, 8, 9, 10}
    assert found[2].startswith("not JSON")
    assert found[4] == "not a capture record: no captureData object"
    assert found[5] == "endpointInput: data is not valid BASE64"
    assert found[6].startswith("endpointInput: row 1: expected 11 columns")
    assert found[7].startswith("endpointOutput: row 1: expected a number")
    assert found[8] == "endpointOutput: encoding 'GZIP': expected CSV, JSON or BASE64"
    assert found[9] == "no eventMetadata.inferenceTime"
    assert found[10] == "captureData has neither endpointInput nor endpointOutput"
    assert str(reader.unreadable[0]) == f"{path}, line 2: {found[2]}"


def test_a_line_too_long_is_unreadable_without_being_held(monkeypatch):
    monkeypatch.setattr(captures, "MAX_LINE_BYTES", 10)
    monkeypatch.setattr(captures, "_CHUNK", 4)  # lines cross chunk boundaries
    stream = io.BytesIO(b"short\n" + b"x" * 25 + b"\nabcdefghij\n" + b"y" * 11)
    assert list(numbered_lines(stream)) == [(1, b"short"), (2, None), (3, b"abcdefghij"), (4, None)]
    assert list(numbered_lines(io.BytesIO(b"a\n\nb"))) == [(1, b"a"), (2, b""), (3, b"b")]


def test_since_reads_only_later_records_and_skips_older_hour_folders(tmp_path):
    moments = [
        datetime(2024, 5, 1, hour, minute, tzinfo=UTC)
        for hour, minute in ((10, 30), (13, 30), (15, 59))
    ]
    for moment in moments:
        at = moment.timestamp()
        write_capture_file(tmp_path, "ep", at, capture_lines(at, EXCHANGES[:1]))
    reader, requests = read_all(tmp_path, since=datetime(2024, 5, 1, 12, tzinfo=UTC))
    assert len(requests) == 2 and reader.files == 2  # the 10:00 folder is not opened
    # within an hour folder, records are filtered by their own time
    reader, requests = read_all(tmp_path, since=datetime(2024, 5, 1, 13, 30, 1, tzinfo=UTC))
    assert [r.at for r in requests] == [moments[2]] and reader.skipped_before == 1
    # newest files first
    reader, requests = read_all(tmp_path)
    assert [r.at for r in requests] == moments[::-1]


def test_parse_since_takes_iso_times_and_ages():
    now = datetime(2024, 5, 2, 12, 0, tzinfo=UTC)
    assert parse_since("24h", now) == now - timedelta(hours=24)
    assert parse_since("90m", now) == now - timedelta(minutes=90)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("2W", now) == now - timedelta(weeks=2)
    assert parse_since("30s", now) == now - timedelta(seconds=30)
    assert parse_since("2024-05-01T13:00:00Z") == datetime(2024, 5, 1, 13, tzinfo=UTC)
    assert parse_since("2024-05-01T15:00+02:00") == datetime(2024, 5, 1, 13, tzinfo=UTC)
    assert parse_since("2024-05-01") == datetime(2024, 5, 1, tzinfo=UTC)
    with pytest.raises(UsageError, match="--since 'yesterday': expected an ISO 8601 time"):
        parse_since("yesterday")


def test_only_capture_files_are_read_unless_one_is_named(tmp_path):
    at = time.time()
    path = write_capture_file(tmp_path, "ep", at, capture_lines(at, EXCHANGES[:2]))
    (tmp_path / "README.txt").write_text("not a capture")
    renamed = tmp_path / "copied.log"
    renamed.write_bytes(path.read_bytes())
    reader, requests = read_all(tmp_path)
    assert len(requests) == 2 and reader.files == 1
    reader, requests = read_all(renamed)
    assert len(requests) == 2 and requests[0].source == str(tmp_path)
