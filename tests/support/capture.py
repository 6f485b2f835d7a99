"""Data-capture files read back and checked against SageMaker's format and layout:
``<endpoint>/<variant>/yyyy/mm/dd/hh/MM-SS-mmm-<uuid>.jsonl``, one JSON object a line with
exactly SageMaker's fields."""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

KEY = re.compile(
    r"^(?P<endpoint>[^/]+)/(?P<variant>[^/]+)/(?P<hour>\d{4}/\d{2}/\d{2}/\d{2})/"
    r"\d{2}-\d{2}-\d{3}-(?P<uuid>[0-9a-f-]{36})\.jsonl$"
)
INFERENCE_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):\d{2}:\d{2}Z$")
PAYLOAD_FIELDS = {"observedContentType", "mode", "data", "encoding"}


def sagemaker_record(line: bytes) -> dict[str, Any]:
    """One line of a capture file, asserted to be in SageMaker's shape."""
    record = json.loads(line)
    assert set(record) == {"captureData", "eventMetadata", "eventVersion"}, record
    assert record["eventVersion"] == "0"
    metadata = record["eventMetadata"]
    assert set(metadata) == {"eventId", "inferenceTime"}, metadata
    uuid.UUID(metadata["eventId"])
    assert INFERENCE_TIME.match(metadata["inferenceTime"]), metadata
    data = record["captureData"]
    assert data and set(data) <= {"endpointInput", "endpointOutput"}, data
    for key, mode in (("endpointInput", "INPUT"), ("endpointOutput", "OUTPUT")):
        if key in data:
            payload = data[key]
            assert set(payload) == PAYLOAD_FIELDS, payload
            assert payload["mode"] == mode
            assert payload["encoding"] in ("CSV", "JSON", "BASE64")
            assert isinstance(payload["data"], str)
    return record


def records_of(files: Iterable[tuple[str, bytes]], endpoint: str) -> list[dict[str, Any]]:
    """Every record of (key relative to the destination, content) pairs, each key in
    SageMaker's layout for ``endpoint`` and each record in its file's hour folder."""
    records = []
    for key, content in files:
        found = KEY.match(key)
        assert found, f"{key} is not in SageMaker's capture layout"
        assert found["endpoint"] == endpoint and found["variant"] == "AllTraffic", key
        for line in content.splitlines():
            record = sagemaker_record(line)
            hour = "/".join(INFERENCE_TIME.match(record["eventMetadata"]["inferenceTime"]).groups())
            assert hour == found["hour"], (key, record["eventMetadata"])
            records.append(record)
    return records


def folder_files(root: Path) -> list[tuple[str, bytes]]:
    """Every file under a local capture destination (none may be left half-written)."""
    paths = sorted(path for path in root.rglob("*") if path.is_file())
    return [(path.relative_to(root).as_posix(), path.read_bytes()) for path in paths]


def s3_files(client: Any, bucket: str, prefix: str) -> list[tuple[str, bytes]]:
    """Every object under ``s3://bucket/prefix/``, keyed relative to the prefix."""
    listed = client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/").get("Contents", [])
    return [
        (
            item["Key"][len(prefix) + 1 :],
            client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read(),
        )
        for item in listed
    ]


def body(payload: dict[str, str]) -> bytes:
    """A captured body as it was sent or answered."""
    if payload["encoding"] == "BASE64":
        return base64.b64decode(payload["data"])
    return payload["data"].encode("utf-8")


#: A request (body, content type) and its answer (body, content type).
Exchange = tuple[bytes, str, bytes, str]


def capture_lines(at: float, exchanges: Iterable[Exchange], *, text: bool = True) -> bytes:
    """Capture lines as ``serve`` writes them (the product's own ``capture_line``): bodies
    kept as CSV/JSON text, or all BASE64 when ``text`` is false (a CaptureConfig without
    CaptureContentTypeHeader, SageMaker's default)."""
    from bigmart.container.capture import CaptureConfig, capture_line

    config = CaptureConfig(
        "endpoint",
        "AllTraffic",
        "unused",
        csv_types=frozenset({"text/csv"} if text else ()),
        json_types=frozenset({"application/json", "application/jsonlines"} if text else ()),
    )
    return b"".join(capture_line(config, at, *exchange) for exchange in exchanges)


def write_capture_file(
    root: Path, endpoint: str, at: float, content: bytes, *, variant: str = "AllTraffic"
) -> Path:
    """A capture file in SageMaker's layout under ``root``, for a file begun at ``at``."""
    from bigmart.container.capture_files import file_key

    path = root / file_key(f"{endpoint}/{variant}", at)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def scored_exchanges(
    model: Path, csv_file: Path, *, rows: int, per_request: int, mrp_factor: float = 1.0
) -> list[Exchange]:
    """The first ``rows`` rows of a Big Mart CSV (``Item_MRP`` times ``mrp_factor``) as CSV
    requests of ``per_request`` rows with a header, each with the model's CSV answer."""
    import csv
    import io

    from bigmart.codecs import decode, encode_csv
    from bigmart.model.predictor import Predictor

    with open(csv_file, newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        chosen = [row for _, row in zip(range(rows), reader, strict=False)]
    price = header.index("Item_MRP")
    for row in chosen:
        row[price] = repr(float(row[price]) * mrp_factor)
    predictor = Predictor.load(model)
    exchanges = []
    for start in range(0, len(chosen), per_request):
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(chosen[start : start + per_request])
        body = text.getvalue().encode()
        answer = encode_csv(predictor.predict(decode(body, "text/csv")))
        exchanges.append((body, "text/csv", answer, "text/csv"))
    return exchanges


class FlakyS3:
    """A stand-in S3 client whose uploads fail (no network) until ``up`` is set."""

    def __init__(self) -> None:
        self.up = False
        self.stored: dict[str, bytes] = {}

    def upload_file(self, path: str, bucket: str, key: str) -> None:
        if not self.up:
            raise ConnectionError("Could not connect to the endpoint URL")
        self.stored[key] = Path(path).read_bytes()


def staged_bytes(staging: Path) -> int:
    """Bytes in all files under ``staging``, hidden ones included."""
    return sum(p.stat().st_size for p in staging.rglob("*") if p.is_file())
