"""``serve``'s data capture: the configuration it reads, SageMaker's line format, sampling,
and a writer thread that never holds an answer up (a full queue drops and counts)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from bigmart.container import capture as capture_module
from bigmart.container.capture import CaptureConfig, DataCapture, capture_line
from bigmart.container.capture_files import S3Destination
from bigmart.contract import MIB
from bigmart.local.requests import data_capture
from support.capture import (
    FlakyS3,
    body,
    folder_files,
    records_of,
    sagemaker_record,
    staged_bytes,
)

ROW = b"FDW58,20.75,Low Fat,0.0075,Snack Foods,107.86,OUT049,1999,Medium,Tier 1,Supermarket Type1"


def config_for(destination: Path | str, **changes) -> CaptureConfig:
    request = {
        **data_capture(str(destination)),
        "EndpointName": "ep",
        "VariantName": "AllTraffic",
        **changes,
    }
    parsed = CaptureConfig.from_environment({"BIGMART_DATA_CAPTURE": json.dumps(request)})
    assert parsed is not None
    return parsed


def test_the_configuration_comes_from_the_environment_and_is_checked(tmp_path):
    assert CaptureConfig.from_environment({}) is None
    config = config_for(tmp_path, InitialSamplingPercentage=25)
    assert (config.endpoint, config.variant, config.destination) == (
        "ep",
        "AllTraffic",
        str(tmp_path),
    )
    assert config.percentage == 25 and config.modes == {"Input", "Output"}
    disabled = {**data_capture("/x"), "EndpointName": "e", "VariantName": "v"}
    disabled["EnableCapture"] = False
    assert CaptureConfig.from_environment({"BIGMART_DATA_CAPTURE": json.dumps(disabled)}) is None
    for changes, message in (
        ({"InitialSamplingPercentage": 101}, "InitialSamplingPercentage 101"),
        ({"CaptureOptions": [{"CaptureMode": "Both"}]}, "CaptureMode"),
    ):
        request = {**data_capture("/x"), "EndpointName": "e", "VariantName": "v", **changes}
        with pytest.raises(ValueError, match=message):
            CaptureConfig.from_environment({"BIGMART_DATA_CAPTURE": json.dumps(request)})
    with pytest.raises(ValueError, match="BIGMART_DATA_CAPTURE: no EndpointName"):
        CaptureConfig.from_environment({"BIGMART_DATA_CAPTURE": json.dumps(data_capture("/x"))})
    with pytest.raises(ValueError, match="BIGMART_DATA_CAPTURE: not JSON"):
        CaptureConfig.from_environment({"BIGMART_DATA_CAPTURE": "{"})


def test_a_line_is_sagemakers_format_with_the_encoding_its_content_type_asks(tmp_path):
    config = config_for(tmp_path)
    at = 1_700_000_000.25
    line = capture_line(config, at, ROW, "text/csv; charset=utf-8", b"1668.69\n", "text/csv")
    record = sagemaker_record(line.rstrip(b"\n"))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert record["eventMetadata"]["inferenceTime"] == "2023-11-14T22:13:20Z"
    assert record["captureData"]["endpointInput"] == {
        "observedContentType": "text/csv; charset=utf-8",
        "mode": "INPUT",
        "data": ROW.decode(),
        "encoding": "CSV",
    }
    assert record["captureData"]["endpointOutput"]["encoding"] == "CSV"

    as_json = sagemaker_record(
        capture_line(config, at, b'{"instances": []}', "application/json", b"{}", "text/plain")
    )
    assert as_json["captureData"]["endpointInput"]["encoding"] == "JSON"
    output = as_json["captureData"]["endpointOutput"]  # not a CSV or JSON type: base64
    assert output["encoding"] == "BASE64" and body(output) == b"{}"

    inputs_only = config_for(tmp_path, CaptureOptions=[{"CaptureMode": "Input"}])
    record = sagemaker_record(capture_line(inputs_only, at, ROW, "text/csv", b"1", "text/csv"))
    assert set(record["captureData"]) == {"endpointInput"}
    no_types = config_for(tmp_path, CaptureContentTypeHeader={})  # SageMaker: all base64
    record = sagemaker_record(capture_line(no_types, at, ROW, "text/csv", b"1", "text/csv"))
    assert record["captureData"]["endpointInput"]["encoding"] == "BASE64"
    assert body(record["captureData"]["endpointInput"]) == ROW


def test_recorded_invocations_are_published_whole_when_the_capture_closes(tmp_path):
    capture = DataCapture(config_for(tmp_path))
    capture.start()
    for index in range(50):
        capture.record(ROW + b"%d" % index, "text/csv", b"%d\n" % index, "text/csv")
    capture.close()
    records = records_of(folder_files(tmp_path), "ep")
    assert [body(r["captureData"]["endpointOutput"]) for r in records] == [
        b"%d\n" % i for i in range(50)
    ]
    assert capture.dropped == 0


def test_zero_percent_captures_nothing(tmp_path):
    capture = DataCapture(config_for(tmp_path, InitialSamplingPercentage=0))
    capture.start()
    for _ in range(200):
        capture.record(ROW, "text/csv", b"1\n", "text/csv")
    capture.close()
    assert folder_files(tmp_path) == []


def test_a_full_queue_drops_and_counts_and_never_blocks(tmp_path, monkeypatch, caplog):
    """The writer is held up (a slow disk); records beyond the buffer are dropped at once,
    counted and warned about, and those admitted are all written afterwards."""
    release = threading.Event()
    real = capture_module.capture_line

    def slow_line(*args):
        release.wait(30)
        return real(*args)

    monkeypatch.setattr(capture_module, "capture_line", slow_line)
    config = CaptureConfig(
        endpoint="ep", variant="AllTraffic", destination=str(tmp_path), buffer_bytes=100_000
    )
    capture = DataCapture(config)
    capture.start()
    payload = b"x" * 9_000
    for _ in range(100):  # ~0.9 MB offered to a 100 kB buffer
        capture.record(payload, "application/octet-stream", b"1\n", "text/csv")
    assert 80 <= capture.dropped < 100
    assert "data capture: the queue is full" in caplog.text
    release.set()
    capture.close()
    assert len(records_of(folder_files(tmp_path), "ep")) == 100 - capture.dropped


def test_a_record_larger_than_the_buffer_is_still_admitted_alone(tmp_path):
    config = CaptureConfig(endpoint="ep", variant="v", destination=str(tmp_path), buffer_bytes=10)
    capture = DataCapture(config)
    capture.start()
    capture.record(ROW, "text/csv", b"1\n", "text/csv")
    capture.close()
    assert capture.dropped == 0
    ((name, content),) = folder_files(tmp_path)
    assert name.startswith("ep/v/") and content.count(b"\n") == 1


def test_records_are_dropped_and_counted_while_s3_staging_is_at_its_cap(tmp_path, monkeypatch):
    """Uploads fail: the worker stops staging at BIGMART_CAPTURE_STAGING_MB (plus the file
    that reached it) and counts the rest as dropped, as for a full queue."""
    monkeypatch.setattr(S3Destination, "client", FlakyS3())
    request = {
        **data_capture("s3://bucket/capture"),
        "EndpointName": "ep",
        "VariantName": "AllTraffic",
    }
    environment = {
        "BIGMART_DATA_CAPTURE": json.dumps(request),
        "BIGMART_CAPTURE_STAGING": str(tmp_path),
        "BIGMART_CAPTURE_STAGING_MB": "1",
        "BIGMART_CAPTURE_ROTATE_MB": "1",
    }
    config = CaptureConfig.from_environment(environment)
    assert config is not None and config.staging_bytes == MIB
    capture = DataCapture(config)
    capture.start()
    payload = b"x" * 100_000
    for _ in range(40):  # ~5 MB of lines (base64) offered to a 1 MiB staging folder
        capture.record(payload, "application/octet-stream", b"1\n", "text/csv")
    capture.close()
    written = len(records_of(folder_files(tmp_path), "ep"))
    assert 0 < written < 40 and capture.dropped == 40 - written
    assert staged_bytes(tmp_path) <= 2 * MIB + 200_000
