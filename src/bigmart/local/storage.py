"""Where jobs read and write: local paths and ``s3://`` URIs, behind one small interface.

S3 goes through boto3 with its standard configuration (profiles, region,
``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3``), so a local S3 server or another region
needs no flag here. Reads stream; writes go to a local temporary file first and are
published whole (a rename, or an S3 upload that is multipart for large files), so a
reader never sees half an output. A local temporary file is created exclusively under a
unique name beside its target: two writers of one output never share it (the last to
finish wins, whole) and a link planted there is never followed.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO, Any

from bigmart.contract import MIB
from bigmart.errors import BigmartError
from bigmart.files import replacing

S3_SCHEME = "s3://"
#: Multipart above this size; boto3 uploads parts in parallel threads.
MULTIPART_THRESHOLD = 64 * MIB


class StorageError(BigmartError, OSError):
    """A location that cannot be read or written; the message names it."""


@dataclass(frozen=True)
class StoredObject:
    """One input object: where it is, its path relative to the listed prefix, its size."""

    location: str
    relative: str
    size: int


def is_s3(location: str | os.PathLike[str]) -> bool:
    return str(location).startswith(S3_SCHEME)


def split_s3(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` to ``(bucket, key)``."""
    bucket, _, key = uri[len(S3_SCHEME) :].partition("/")
    if not bucket:
        raise StorageError(f"{uri!r}: expected s3://bucket/key")
    return bucket, key


def join(location: str, relative: str) -> str:
    """A child of a folder or prefix."""
    if is_s3(location):
        return location.rstrip("/") + "/" + relative.lstrip("/")
    return str(Path(location) / relative)


@cache
def s3_client() -> Any:
    """One S3 client per process, from boto3's standard chain."""
    import boto3

    return boto3.session.Session().client("s3")


def list_objects(location: str) -> list[StoredObject]:
    """Every object at a file, folder (recursively) or S3 prefix, sorted, hidden ones and
    ``_``-prefixed markers (``_SUCCESS``) skipped."""
    if is_s3(location):
        return _list_s3(location)
    root = Path(location)
    if root.is_file():
        return [StoredObject(str(root), root.name, root.stat().st_size)]
    if not root.is_dir():
        raise StorageError(f"{location}: no such file or folder")
    found = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and not any(p.startswith((".", "_")) for p in relative.parts):
            found.append(StoredObject(str(path), relative.as_posix(), path.stat().st_size))
    return found


def _list_s3(uri: str) -> list[StoredObject]:
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = split_s3(uri)
    found = []
    try:
        paginator = s3_client().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=key):
            for item in page.get("Contents", []):
                name = item["Key"]
                if name.endswith("/"):
                    continue
                if name == key:  # the URI names one object
                    relative = name.rsplit("/", 1)[-1]
                else:
                    relative = name[len(key) :].lstrip("/") if key else name
                    if key and not key.endswith("/") and not name[len(key) :].startswith("/"):
                        continue  # s3://b/data must not match s3://b/database/...
                if any(p.startswith((".", "_")) for p in relative.split("/")):
                    continue
                found.append(StoredObject(f"s3://{bucket}/{name}", relative, item["Size"]))
    except (ClientError, BotoCoreError) as error:
        raise StorageError(f"{uri}: {error}") from None
    return sorted(found, key=lambda o: o.relative)


def object_exists(location: str) -> bool:
    """Whether one object is there: a file, or an S3 key (other S3 errors raise)."""
    if not is_s3(location):
        return Path(location).is_file()
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = split_s3(location)
    try:
        s3_client().head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise StorageError(f"{location}: {error}") from None
    except BotoCoreError as error:
        raise StorageError(f"{location}: {error}") from None
    return True


@contextmanager
def open_read(location: str) -> Iterator[IO[bytes]]:
    """A binary stream of one object (S3: streamed, not downloaded whole); an S3 stream
    that breaks while it is read raises ``StorageError`` naming the object."""
    if not is_s3(location):
        try:
            with open(location, "rb") as handle:
                yield handle
        except FileNotFoundError:
            raise StorageError(f"{location}: no such file") from None
        return
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = split_s3(location)
    try:
        body = s3_client().get_object(Bucket=bucket, Key=key)["Body"]
    except (ClientError, BotoCoreError) as error:
        raise StorageError(f"{location}: {error}") from None
    stream = _S3Stream(body, location, BotoCoreError)
    try:
        yield stream
    finally:
        stream.close()


class _S3Stream(io.RawIOBase):
    """An S3 object's body whose break while it is read (a timeout, a reset) is a
    ``StorageError`` naming the object: only the reads are translated, so an error of the
    caller's own (an upload inside the same block) keeps its own words."""

    def __init__(self, body: Any, location: str, errors: type[Exception]) -> None:
        super().__init__()
        self._body = body
        self._location = location
        self._errors = errors

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        try:
            return bytes(self._body.read(None if size is None or size < 0 else size))
        except self._errors as error:
            raise StorageError(f"{self._location}: reading stopped: {error}") from None

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


@contextmanager
def open_write(location: str) -> Iterator[IO[bytes]]:
    """A binary stream whose content appears at ``location`` only if the block completes.

    It is written to a temporary file beside a local target (then renamed) or in the temp
    folder for S3 (then uploaded); on an exception nothing is published.
    """
    if is_s3(location):
        with tempfile.NamedTemporaryFile(prefix="bigmart-upload-", suffix=".part") as handle:
            yield handle
            handle.flush()
            upload_file(handle.name, location)
        return
    with replacing(location) as handle:
        yield handle


def upload_file(path: str | os.PathLike[str], location: str) -> None:
    """Copy a local file to a path or an S3 URI (multipart when large)."""
    if not is_s3(location):
        with open(path, "rb") as source, replacing(location) as handle:
            shutil.copyfileobj(source, handle, MIB)
        return
    from boto3.exceptions import S3UploadFailedError
    from boto3.s3.transfer import TransferConfig
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = split_s3(location)
    try:
        s3_client().upload_file(
            str(path), bucket, key, Config=TransferConfig(multipart_threshold=MULTIPART_THRESHOLD)
        )
    except (ClientError, BotoCoreError, S3UploadFailedError) as error:  # the last: NoSuchBucket
        raise StorageError(f"{location}: {error}") from None


def download_tree(location: str, destination: Path) -> list[Path]:
    """Copy every object at ``location`` under ``destination``, keeping the key tree, as
    SageMaker fills a File-mode channel."""
    written = []
    for item in list_objects(location):
        target = destination / item.relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if is_s3(item.location):
            bucket, key = split_s3(item.location)
            try:
                s3_client().download_file(bucket, key, str(target))
            except Exception as error:  # boto3 raises several unrelated types here
                raise StorageError(f"{item.location}: {error}") from None
        else:
            shutil.copyfile(item.location, target)
        written.append(target)
    if not written:
        raise StorageError(f"{location}: no objects found")
    return written
