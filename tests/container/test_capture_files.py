"""Capture files: SageMaker's layout, rotated by hour, size and age, published whole to a
folder or uploaded to S3 (moto), and kept for a retry when an upload fails."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import boto3
import pytest

from bigmart.container import capture_files
from bigmart.container.capture_files import CaptureFiles, FolderDestination, S3Destination
from support.aws_server import moto_server
from support.capture import KEY, FlakyS3, folder_files, staged_bytes

HOUR = 1_700_000_000 // 3600 * 3600  # the start of an hour


def line(n: int) -> bytes:
    return b'{"n": %d}\n' % n


def files_in(root: Path, **limits) -> CaptureFiles:
    options = {"rotate_seconds": 60, "rotate_bytes": 1 << 20, **limits}
    return CaptureFiles(FolderDestination(root), "ep", "AllTraffic", **options)


def test_a_file_is_hidden_until_published_then_named_as_sagemaker_names_it(tmp_path):
    files = files_in(tmp_path)
    files.write(HOUR + 65.5, line(1))
    files.flush()
    (written,) = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written.name.startswith(".") and written.name.endswith(".part")
    files.close()
    ((key, content),) = folder_files(tmp_path)
    assert KEY.match(key) and key.startswith("ep/AllTraffic/2023/11/14/22/01-05-500-")
    assert content == line(1)


def test_files_rotate_by_hour_and_by_size(tmp_path):
    files = files_in(tmp_path, rotate_bytes=18)
    files.write(HOUR + 3590, line(1))
    files.write(HOUR + 3599, line(2))  # the file is now 18 bytes
    files.write(HOUR + 3600, line(3))  # the next hour: a new file in the next folder
    files.write(HOUR + 3601, line(4))
    files.write(HOUR + 3602, line(5))  # 18 bytes reached: a new file
    files.close()
    found = folder_files(tmp_path)
    assert [(key.split("/")[5], content) for key, content in found] == [
        ("22", line(1) + line(2)),
        ("23", line(3) + line(4)),
        ("23", line(5)),
    ]
    assert files.records == 5 and files.published == 3


def test_an_old_file_is_published_by_the_tick(tmp_path, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(capture_files.time, "monotonic", lambda: clock[0])
    files = files_in(tmp_path, rotate_seconds=60)
    files.write(HOUR, line(1))
    files.tick(HOUR + 59)
    assert folder_files(tmp_path)[0][0].split("/")[-1].startswith(".")  # still open
    clock[0] += 60
    files.tick(HOUR + 60)
    assert [content for _, content in folder_files(tmp_path)] == [line(1)]


@pytest.fixture(scope="module")
def s3():
    with moto_server() as server:
        saved = dict(os.environ)
        os.environ.update(server.environment())
        try:
            yield boto3.client("s3")
        finally:
            os.environ.clear()
            os.environ.update(saved)


def test_an_upload_that_fails_is_kept_and_retried(s3, tmp_path, caplog):
    bucket = f"capture-{os.urandom(3).hex()}"
    staging = tmp_path / "staging"
    target = S3Destination(f"s3://{bucket}/data/capture/", staging, cap_bytes=1 << 30)
    files = CaptureFiles(target, "ep", "AllTraffic", rotate_seconds=60, rotate_bytes=1 << 20)
    files.write(HOUR, line(1))
    files.close()  # no such bucket yet: logged, kept
    assert "cannot upload" in caplog.text and "kept for retry" in caplog.text
    (kept,) = [p for p in staging.rglob("*") if p.is_file()]
    key = kept.relative_to(staging).as_posix()
    assert KEY.match(key)

    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    target.retry(HOUR, force=True)
    assert not kept.exists()
    stored = s3.get_object(Bucket=bucket, Key=f"data/capture/{key}")["Body"].read()
    assert stored == line(1)

    files.write(HOUR + 1, line(2))  # and while the bucket is there, at once
    files.publish()
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="data/capture/ep/")["Contents"]
    assert len(listed) == 2 and not [p for p in staging.rglob("*") if p.is_file()]


def test_staging_stops_at_its_cap_while_uploads_fail_and_capture_resumes_after(tmp_path, caplog):
    """A restarted worker finds 300 bytes waiting; uploads keep failing: once staging holds
    the cap no new file is begun and records are dropped (logged once), staging never
    exceeds the cap plus one file; when uploads work again it drains and capture resumes."""
    caplog.set_level(logging.INFO, "bigmart.serve")
    staging = tmp_path / "staging"
    left = staging / "ep/AllTraffic/2023/11/14/21/59-00-000-left.jsonl"
    left.parent.mkdir(parents=True)
    left.write_bytes(b"x" * 300)
    target = S3Destination("s3://bucket/capture", staging, cap_bytes=1000)
    target.client = FlakyS3()
    files = CaptureFiles(target, "ep", "AllTraffic", rotate_seconds=60, rotate_bytes=100)
    kept = [files.write(HOUR + n, line(1000 + n)) for n in range(500)]  # 12-byte lines
    files.close()
    assert staged_bytes(staging) <= 1000 + 100 + len(line(1000))
    dropped = kept.count(False)
    assert files.records == 500 - dropped and dropped >= 400
    assert kept[-1] is False and target.full
    warnings = [r.getMessage() for r in caplog.records if "at its cap" in r.getMessage()]
    assert len(warnings) == 1 and str(staging) in warnings[0]
    assert "BIGMART_CAPTURE_STAGING_MB" in warnings[0]

    target.client.up = True
    target.retry(HOUR + 600, force=True)
    assert staged_bytes(staging) == 0 and not target.full
    assert "capture resumes" in caplog.text
    assert files.write(HOUR + 601, line(1)) is True
    files.close()
    assert len(target.client.stored) == target.uploaded and staged_bytes(staging) == 0
    assert b"".join(target.client.stored.values()).count(b"\n") == files.records
