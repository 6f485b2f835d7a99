"""Local storage: outputs are published whole, under names no one else can share or plant;
S3 in and out against moto's S3 server on 127.0.0.1 (no AWS account)."""

from __future__ import annotations

import gzip
import io
import os
import stat
import threading
from pathlib import Path

import pytest

from bigmart import files
from bigmart.data import synthetic as synth
from bigmart.local import storage
from support.cli import bigmart


def plant_link(target: Path, victim: Path) -> Path:
    """A symlink at the fixed temporary name the writers used to open, pointing at
    ``victim``."""
    link = target.with_name(f".{target.name}.partial")
    link.symlink_to(victim)
    return link


def write_with_open_write(target: Path, content: bytes) -> None:
    with storage.open_write(str(target)) as handle:
        handle.write(content)


def write_with_upload_file(target: Path, content: bytes) -> None:
    source = target.parent.parent / f"source-{os.getpid()}-{threading.get_ident()}"
    source.write_bytes(content)
    storage.upload_file(source, str(target))


def write_with_replacing(target: Path, content: bytes) -> None:
    with storage.replacing(target, "w", encoding="utf-8") as handle:
        handle.write(content.decode())


WRITERS = [write_with_open_write, write_with_upload_file, write_with_replacing]


@pytest.mark.parametrize("write", WRITERS)
def test_a_link_planted_at_the_old_temporary_name_is_not_followed(tmp_path, write):
    folder = tmp_path / "out"
    folder.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    target = folder / "a.csv.out"
    link = plant_link(target, victim)
    write(target, b"new output\n")
    assert victim.read_text() == "precious\n"
    assert link.is_symlink() and os.readlink(link) == str(victim)
    assert not target.is_symlink() and target.read_bytes() == b"new output\n"
    assert sorted(p.name for p in folder.iterdir()) == [".a.csv.out.partial", "a.csv.out"]


@pytest.mark.parametrize("write", [write_with_open_write, write_with_replacing])
def test_two_writers_of_one_output_each_publish_a_whole_file(tmp_path, write):
    target = tmp_path / "out" / "shared.csv.out"
    both_open = threading.Barrier(2, timeout=10)
    contents = {name: (name * 40_000 + "\n").encode() for name in ("a", "b")}
    lengths = {"a": 1000, "b": 2}  # different sizes: a mix cannot pass for either
    contents = {n: c[: lengths[n] * 100] for n, c in contents.items()}
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            if write is write_with_open_write:
                context = storage.open_write(str(target))
            else:
                context = storage.replacing(target, "w", encoding="utf-8")
            with context as handle:
                content = contents[name]
                half = len(content) // 2
                handle.write(content[:half] if "b" in handle.mode else content[:half].decode())
                handle.flush()
                both_open.wait()  # both files are open and half written
                handle.write(content[half:] if "b" in handle.mode else content[half:].decode())
                handle.flush()
                both_open.wait()
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(name,)) for name in contents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert target.read_bytes() in contents.values()  # the last replace wins, whole
    assert [p.name for p in target.parent.iterdir()] == ["shared.csv.out"]


def test_a_failed_write_leaves_nothing_and_keeps_the_old_output(tmp_path):
    target = tmp_path / "out" / "a.csv.out"
    target.parent.mkdir()
    target.write_bytes(b"old\n")
    with pytest.raises(RuntimeError), storage.open_write(str(target)) as handle:
        handle.write(b"half")
        raise RuntimeError("the object failed")
    assert target.read_bytes() == b"old\n"
    assert [p.name for p in target.parent.iterdir()] == ["a.csv.out"]


def test_a_published_file_has_the_permissions_open_would_give(tmp_path):
    previous = os.umask(0o027)
    try:
        files._new_file_mode.cache_clear()
        target = tmp_path / "a.csv.out"
        write_with_open_write(target, b"x\n")
        plain = tmp_path / "plain"
        plain.write_bytes(b"x\n")
        assert stat.S_IMODE(target.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    finally:
        os.umask(previous)
        files._new_file_mode.cache_clear()


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


def test_an_s3_stream_that_breaks_while_read_is_one_error_naming_the_object(monkeypatch):
    from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

    class BreakingBody:
        def read(self, size: int = -1) -> bytes:
            raise ReadTimeoutError(endpoint_url="https://s3.example/bucket/key")

        def close(self) -> None:
            pass

    class Client:
        def get_object(self, **_: str) -> dict[str, BreakingBody]:
            return {"Body": BreakingBody()}

    monkeypatch.setattr(storage, "s3_client", Client)
    with (
        pytest.raises(storage.StorageError) as raised,
        storage.open_read("s3://b/out.tar.gz") as body,
    ):
        body.read(1024)
    assert str(raised.value) == (
        "s3://b/out.tar.gz: reading stopped: Read timeout on endpoint URL: "
        '"https://s3.example/bucket/key"'
    )
    upload_failed = EndpointConnectionError(endpoint_url="https://s3.example/other")
    with pytest.raises(EndpointConnectionError), storage.open_read("s3://b/out.tar.gz"):
        raise upload_failed  # the caller's own error in the block is not the object's
