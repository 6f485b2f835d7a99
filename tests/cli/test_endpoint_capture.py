"""Data capture on local endpoints (issue 13, part 3): ``bigmart endpoint create
--capture-s3-uri URI --capture-percent P`` records what the endpoint answered in SageMaker's
format and layout, in a folder or on S3 (moto), and a SIGTERM loses nothing answered."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from bigmart.cli.common import store
from bigmart.local.processes import ProcessIdentity
from support.aws_server import REGION
from support.capture import body, folder_files, records_of, s3_files
from support.cli import BIGMART
from support.remote import moto_client

ROW = (
    "FDW58,{weight},Low Fat,0.007564836,Snack Foods,107.8622,OUT049,1999,Medium,Tier 1,"
    "Supermarket Type1"
)


def row(weight: float) -> str:
    return ROW.format(weight=weight)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BIGMART, *args], capture_output=True, text=True, timeout=300, env=env or dict(os.environ)
    )


def create(name: str, model: Path, *capture: str, env: dict[str, str] | None = None) -> None:
    created = run(
        "endpoint", "create", "--model", str(model), "--name", name, "--workers", "2", *capture,
        env=env,
    )  # fmt: skip
    assert created.returncode == 0, created.stdout + created.stderr


def invoke(name: str, body_file: Path, *types: str, env=None) -> subprocess.CompletedProcess[str]:
    return run("endpoint", "invoke", name, "--body", str(body_file), *types, env=env)


def delete(name: str, env: dict[str, str] | None = None) -> None:
    deleted = run("endpoint", "delete", name, env=env)
    assert deleted.returncode == 0, deleted.stderr


def pairs(records: list[dict]) -> list[tuple[bytes, str, bytes, str]]:
    """(input, its content type, output, its content type) of each record, sorted."""
    found = []
    for record in records:
        data = record["captureData"]
        sent, answer = data["endpointInput"], data["endpointOutput"]
        kinds = sent["observedContentType"], answer["observedContentType"]
        found.append((body(sent), kinds[0], body(answer), kinds[1]))
    return sorted(found)


def test_csv_and_json_invocations_are_captured_as_sagemaker_captures_them(trained_model, tmp_path):
    destination = tmp_path / "capture"
    create(
        "cap-csv", trained_model, "--capture-s3-uri", str(destination), "--capture-percent", "100"
    )
    expected = []
    try:
        described = json.loads(run("jobs", "describe", "cap-csv").stdout)
        assert described["DataCaptureConfig"] == {
            "EnableCapture": True,
            "CaptureStatus": "Started",
            "CurrentSamplingPercentage": 100,
            "DestinationS3Uri": str(destination),
        }
        for index, (content_type, accept, text) in enumerate(
            [
                ("text/csv", "text/csv", f"{row(9.5)}\n{row(10.5)}\n"),
                ("text/csv", "application/json", f"{row(11.5)}\n"),
                ("application/json", "text/csv", json.dumps({"instances": [row(12.5).split(",")]})),
                ("application/json", "application/json", json.dumps([{"Item_MRP": 99.5}])),
            ]
        ):
            sent = tmp_path / f"body-{index}"
            sent.write_text(text)
            answer = invoke("cap-csv", sent, "--content-type", content_type, "--accept", accept)
            assert answer.returncode == 0, answer.stderr
            # invoke ends what it prints with a line end; a JSON answer's body has none
            body = answer.stdout.encode()
            body = body[:-1] if accept == "application/json" else body
            expected.append((text.encode(), content_type, body, accept))
        bad = tmp_path / "bad.csv"
        bad.write_text("not,a,row\n")
        assert invoke("cap-csv", bad).returncode == 1  # a 400: answered, but not captured
    finally:
        delete("cap-csv")
    records = records_of(folder_files(destination), "cap-csv")
    assert pairs(records) == sorted(expected)
    encodings = {
        (
            r["captureData"]["endpointInput"]["encoding"],
            r["captureData"]["endpointOutput"]["encoding"],
        )
        for r in records
    }
    assert encodings == {("CSV", "CSV"), ("CSV", "JSON"), ("JSON", "CSV"), ("JSON", "JSON")}


def test_zero_percent_captures_nothing(trained_model, tmp_path):
    destination = tmp_path / "capture"
    create(
        "cap-zero", trained_model, "--capture-s3-uri", str(destination), "--capture-percent", "0"
    )
    try:
        sent = tmp_path / "rows.csv"
        sent.write_text(f"{row(9.5)}\n")
        for _ in range(5):
            assert invoke("cap-zero", sent).returncode == 0
        described = json.loads(run("jobs", "describe", "cap-zero").stdout)
        assert described["DataCaptureConfig"]["CurrentSamplingPercentage"] == 0
    finally:
        delete("cap-zero")
    assert folder_files(destination) == []


def test_sigterm_loses_nothing_that_was_answered(trained_model, tmp_path):
    """Clients keep sending distinct rows while the server is sent SIGTERM: every request
    that got its answer is in the capture files, with that answer."""
    destination = tmp_path / "capture"
    create("cap-term", trained_model, "--capture-s3-uri", str(destination))
    artifacts = store().get("cap-term").artifacts
    answered: dict[bytes, bytes] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def client(first: int) -> None:
        number = first
        while not stop.is_set():
            payload = f"{row(number / 1000)}\n".encode()
            number += 4
            try:
                connection = http.client.HTTPConnection("127.0.0.1", artifacts["port"], timeout=30)
                connection.request("POST", "/invocations", payload, {"Content-Type": "text/csv"})
                response = connection.getresponse()
                answer = response.read()
                connection.close()
            except (OSError, http.client.HTTPException):
                time.sleep(0.01)  # the server is going away
                continue
            if response.status == 200:
                with lock:
                    answered[payload] = answer

    threads = [threading.Thread(target=client, args=(first,)) for first in range(4)]
    for thread in threads:
        thread.start()
    try:
        while len(answered) < 200:
            time.sleep(0.01)
        os.kill(artifacts["pid"], signal.SIGTERM)
        server = ProcessIdentity.of(artifacts["pid"])
        deadline = time.monotonic() + 40
        while server is not None and server.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        delete("cap-term")
    captured = {
        body(r["captureData"]["endpointInput"]): body(r["captureData"]["endpointOutput"])
        for r in records_of(folder_files(destination), "cap-term")
    }
    assert len(answered) >= 200
    missing = set(answered) - set(captured)
    assert not missing, f"{len(missing)} answered request(s) not captured"
    assert all(captured[payload] == answer for payload, answer in answered.items())


def moto_s3(env: dict[str, str]):
    return moto_client(env, "s3")


@pytest.fixture
def bucket(env) -> str:
    name = f"capture-{os.urandom(3).hex()}"
    moto_s3(env).create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    return name


def test_an_s3_destination_gets_the_objects(trained_model, tmp_path, env, bucket):
    create("cap-s3", trained_model, "--capture-s3-uri", f"s3://{bucket}/captured/", env=env)
    sent = tmp_path / "rows.csv"
    sent.write_text(f"{row(9.5)}\n")
    try:
        for _ in range(3):
            assert invoke("cap-s3", sent, env=env).returncode == 0
    finally:
        delete("cap-s3", env=env)
    records = records_of(s3_files(moto_s3(env), bucket, "captured"), "cap-s3")
    assert [body(r["captureData"]["endpointInput"]) for r in records] == [sent.read_bytes()] * 3


def test_an_upload_that_fails_never_stops_serving_and_is_retried_later(
    trained_model, tmp_path, env
):
    """No bucket yet: the endpoint answers all the same and keeps the file; the endpoint's
    next server uploads it once the bucket exists."""
    missing = f"later-{os.urandom(3).hex()}"
    uri = f"s3://{missing}/captured"
    create("cap-later", trained_model, "--capture-s3-uri", uri, env=env)
    sent = tmp_path / "rows.csv"
    sent.write_text(f"{row(9.5)}\n")
    try:
        assert invoke("cap-later", sent, env=env).returncode == 0
    finally:
        delete("cap-later", env=env)
    log = Path(store().get("cap-later").artifacts["log"]).read_text()
    assert "cannot upload" in log and "kept for retry" in log
    moto_s3(env).create_bucket(
        Bucket=missing, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    create("cap-later", trained_model, "--capture-s3-uri", uri, env=env)
    delete("cap-later", env=env)  # its writer retries at once, and again as it stops
    records = records_of(s3_files(moto_s3(env), missing, "captured"), "cap-later")
    assert [body(r["captureData"]["endpointInput"]) for r in records] == [sent.read_bytes()]
