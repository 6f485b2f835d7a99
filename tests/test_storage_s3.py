"""S3 in and out, against moto's S3 server on 127.0.0.1 (no AWS account)."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from answering_server import answering_server
from aws_server import moto_server
from bigmart.data import synthetic as synth
from bigmart.local import storage
from bigmart.local.transform.client import Plan, transform_objects
from bigmart.local.transform.options import TransformOptions

BIGMART = str(Path(sys.executable).with_name("bigmart"))


@pytest.fixture(scope="module")
def s3_env():
    with moto_server() as server:
        saved = dict(os.environ)
        os.environ.update(server.environment())
        storage.s3_client.cache_clear()
        try:
            yield server.environment()
        finally:
            os.environ.clear()
            os.environ.update(saved)
            storage.s3_client.cache_clear()


@pytest.fixture
def s3(s3_env):
    client = boto3.client("s3")
    bucket = f"bucket-{os.urandom(3).hex()}"
    client.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    return client, bucket


def bigmart(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BIGMART, *args], capture_output=True, text=True, timeout=300)


def test_listing_respects_prefix_boundaries_and_skips_markers(s3):
    client, bucket = s3
    for key in ("data/a.csv", "data/sub/b.csv", "data/_SUCCESS", "database/x.csv"):
        client.put_object(Bucket=bucket, Key=key, Body=b"x")
    listed = storage.list_objects(f"s3://{bucket}/data")
    assert [o.relative for o in listed] == ["a.csv", "sub/b.csv"]
    assert [o.relative for o in storage.list_objects(f"s3://{bucket}/data/a.csv")] == ["a.csv"]


def test_multipart_upload_of_a_large_output(s3, tmp_path, monkeypatch):
    client, bucket = s3
    monkeypatch.setattr(storage, "MULTIPART_THRESHOLD", 5 * 1024 * 1024)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(12 * 1024 * 1024))
    storage.upload_file(big, f"s3://{bucket}/out/big.bin")
    head = client.head_object(Bucket=bucket, Key="out/big.bin")
    assert head["ContentLength"] == 12 * 1024 * 1024
    assert "-" in head["ETag"]  # a multipart ETag


def test_open_write_publishes_nothing_on_failure(s3):
    client, bucket = s3
    with pytest.raises(RuntimeError), storage.open_write(f"s3://{bucket}/half.out") as out:
        out.write(b"some")
        raise RuntimeError("boom")
    assert "Contents" not in client.list_objects_v2(Bucket=bucket, Prefix="half")


def test_train_from_s3_to_s3_then_transform_s3_to_s3(s3, real_train_csv):
    client, bucket = s3
    client.upload_file(str(real_train_csv), bucket, "train/part=1/train.csv")
    trained = bigmart(
        "train",
        "--data",
        f"s3://{bucket}/train",
        "--output",
        f"s3://{bucket}/jobs",
        "--name",
        "s3-job",
        "--hp",
        "n_estimators=20",
    )
    assert trained.returncode == 0, trained.stdout + trained.stderr
    model = f"s3://{bucket}/jobs/s3-job/output/model.tar.gz"
    assert f"model: {model}" in trained.stdout
    client.head_object(Bucket=bucket, Key="jobs/s3-job/output/output.tar.gz")

    rows = synth.csv_text(300, seed=21, with_target=False)
    client.put_object(Bucket=bucket, Key="score/a.csv", Body=rows.encode())
    client.put_object(Bucket=bucket, Key="score/deep/b.csv.gz", Body=gzip.compress(rows.encode()))
    lines = rows.splitlines()
    lines[100] += ",one,too,many"
    client.put_object(Bucket=bucket, Key="score/bad.csv", Body="\n".join(lines).encode())
    transformed = bigmart(
        "transform",
        "--model",
        model,
        "--input",
        f"s3://{bucket}/score/",
        "--output",
        f"s3://{bucket}/predictions",
    )
    assert transformed.returncode == 1
    assert "bad.csv, line 101" in transformed.stderr
    keys = sorted(
        o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="predictions/")["Contents"]
    )
    assert keys == ["predictions/a.csv.out", "predictions/deep/b.csv.gz.out"]
    body = client.get_object(Bucket=bucket, Key="predictions/a.csv.out")["Body"].read()
    assert len(body.decode().splitlines()) == 300
    assert (
        body == client.get_object(Bucket=bucket, Key="predictions/deep/b.csv.gz.out")["Body"].read()
    )
    assert io.BytesIO(body).read(1).isdigit()


@pytest.mark.parametrize("options", [{"join_source": "Input"}, {"batch_strategy": "SingleRecord"}])
def test_records_of_an_s3_object_are_its_lines_record_by_record(s3, tmp_path, options):
    """A plain S3 object read record by record is split at line ends (iterating boto3's
    stream yields 1 KB chunks, not lines)."""
    client, bucket = s3
    rows = synth.csv_text(100, 4, with_target=False).splitlines()[1:]  # ~9 KB, no header
    client.put_object(Bucket=bucket, Key="in/rows.csv", Body=("\n".join(rows) + "\n").encode())
    plan = Plan.resolve(TransformOptions(**options), {})
    with answering_server() as port:
        outcomes = transform_objects(
            storage.list_objects(f"s3://{bucket}/in/"),
            f"s3://{bucket}/out/",
            plan,
            port,
            echo=lambda _: None,
        )
    assert [(o.status, o.records) for o in outcomes] == [("Completed", 100)], outcomes
    written = client.get_object(Bucket=bucket, Key="out/rows.csv.out")["Body"].read().decode()
    if "join_source" in options:
        assert written.splitlines() == [f"{row},1.0" for row in rows]
    else:
        assert written.splitlines() == ["1.0"] * 100


def test_a_hostile_s3_model_archive_is_refused_naming_its_uri(s3, tmp_path):
    import tarfile

    from bigmart.local.server_process import materialize_model
    from bigmart.model.artifact import ArtifactError

    client, bucket = s3
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        link = tarfile.TarInfo("model.onnx")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    client.put_object(Bucket=bucket, Key="m/model.tar.gz", Body=buffer.getvalue())
    uri = f"s3://{bucket}/m/model.tar.gz"
    with pytest.raises(ArtifactError) as refused:
        materialize_model(uri, tmp_path / "model")
    assert str(refused.value).startswith(f"{uri}: member 'model.onnx' is a symlink")
    assert not (tmp_path / "model" / "model.onnx").exists()


def test_an_s3_object_larger_than_any_model_is_not_downloaded_whole(s3, tmp_path, monkeypatch):
    from bigmart.local import server_process as model_server
    from bigmart.model.artifact import ArtifactError

    client, bucket = s3
    client.put_object(Bucket=bucket, Key="big/model.tar.gz", Body=b"\0" * (3 << 20))
    monkeypatch.setattr(model_server, "MAX_ARCHIVE_BYTES", 1 << 20)
    with pytest.raises(ArtifactError, match="larger than any model archive"):
        model_server.materialize_model(f"s3://{bucket}/big/model.tar.gz", tmp_path / "model")
