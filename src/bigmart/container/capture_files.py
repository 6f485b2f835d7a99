"""Capture files as SageMaker lays them out, each published whole to a folder or to S3.

One worker writes one file at a time, ``<endpoint>/<variant>/yyyy/mm/dd/hh/MM-SS-mmm-<uuid>.jsonl``
under the destination (the hour folder and the name from the file's first record, in UTC, as
SageMaker names its capture objects). A file is closed and published when the hour changes,
when it is ``rotate_seconds`` old or ``rotate_bytes`` large, and when the worker stops:

- a folder: written under a hidden ``.<name>.part`` beside its final name and renamed, so a
  reader (``bigmart drift``, ``storage.list_objects``) never sees half a file;
- ``s3://``: written in a local staging folder and uploaded when closed. An upload that fails
  (no network, no bucket) is logged and the file kept in the staging folder; every
  ``RETRY_SECONDS``, and when the worker stops, what is left there is uploaded again
  (by whichever server of the endpoint runs then). Serving never waits for any of it.
  Staging is bounded: while the files waiting there (counted at start, after each retry
  and at each failed upload) reach ``cap_bytes``, a worker begins no new file and drops its
  records; it captures again once a retry brings the folder below the cap. So staging holds
  at most the cap plus one file per worker.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from functools import cached_property
from pathlib import Path
from typing import IO, Any, Protocol

from bigmart.contract import MIB

log = logging.getLogger("bigmart.serve")

S3_SCHEME = "s3://"
#: How often files whose upload failed are tried again.
RETRY_SECONDS = 30.0
PART_SUFFIX = ".part"


class Destination(Protocol):
    """Where closed capture files go."""

    #: True while no new file may be begun (its records are dropped instead).
    full: bool

    def part(self, key: str) -> Path:
        """The local path a file is written to until it is published."""
        ...

    def publish(self, part: Path, key: str) -> None:
        """Make the finished file ``part`` visible at ``key`` (never raises for S3)."""
        ...

    def retry(self, now: float, *, force: bool = False) -> None:
        """Publish again what could not be published before."""
        ...


def _hidden_part(path: Path) -> Path:
    return path.with_name(f".{path.name}{PART_SUFFIX}")


class FolderDestination:
    """A local folder: files appear under their final names whole, by a rename."""

    full = False  # a full disk is an error on write, handled by the caller

    def __init__(self, root: Path) -> None:
        self.root = root

    def __str__(self) -> str:
        return str(self.root)

    def part(self, key: str) -> Path:
        return _hidden_part(self.root / key)

    def publish(self, part: Path, key: str) -> None:
        os.replace(part, self.root / key)

    def retry(self, now: float, *, force: bool = False) -> None:
        return None


class S3Destination:
    """An ``s3://bucket/prefix``: files are staged locally and uploaded when closed."""

    def __init__(self, uri: str, staging: Path, cap_bytes: int) -> None:
        bucket, _, prefix = uri[len(S3_SCHEME) :].partition("/")
        self.uri = uri
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.staging = staging
        self.cap_bytes = cap_bytes
        self.next_retry = 0.0
        self.uploaded = 0
        self.full = False
        # What a restarted worker finds there waits for upload too, so it counts.
        self.staged = sum(size for _, size in self._waiting())
        self._account()

    def __str__(self) -> str:
        return self.uri

    @cached_property
    def client(self) -> Any:
        """An S3 client from boto3's standard chain (``AWS_ENDPOINT_URL`` included), with
        short timeouts: a stuck upload must not hold the worker's shutdown."""
        import boto3
        from botocore.config import Config

        config = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2})
        return boto3.session.Session().client("s3", config=config)

    def part(self, key: str) -> Path:
        return _hidden_part(self.staging / key)

    def publish(self, part: Path, key: str) -> None:
        ready = self.staging / key
        os.replace(part, ready)
        size = ready.stat().st_size
        if not self._upload(ready, key):
            self.staged += size
            self._account()

    def retry(self, now: float, *, force: bool = False) -> None:
        if not force and now < self.next_retry:
            return
        self.next_retry = now + RETRY_SECONDS
        staged = 0
        for path, size in self._waiting():
            if not self._upload(path, path.relative_to(self.staging).as_posix()):
                staged += size
        self.staged = staged
        self._account()

    def _waiting(self) -> list[tuple[Path, int]]:
        """The files in staging that wait for their upload, with their sizes."""
        if not self.staging.is_dir():
            return []
        found = []
        for path in sorted(self.staging.rglob("*.jsonl")):
            if path.name.startswith("."):  # a hidden .part is still being written
                continue
            try:
                found.append((path, path.stat().st_size))
            except FileNotFoundError:  # another server of this endpoint uploaded it
                continue
        return found

    def _account(self) -> None:
        """Note when staging reaches its cap or falls below it again, once each time."""
        full = self.staged >= self.cap_bytes
        if full == self.full:
            return
        self.full = full
        if full:
            log.warning(
                "data capture: staging folder %s holds %s, at its cap of %s "
                "(BIGMART_CAPTURE_STAGING_MB); new records are dropped until uploads succeed",
                self.staging,
                _mib(self.staged),
                _mib(self.cap_bytes),
            )
        else:
            log.info(
                "data capture: staging folder %s is below its cap of %s again; capture resumes",
                self.staging,
                _mib(self.cap_bytes),
            )

    def _upload(self, path: Path, key: str) -> bool:
        target = f"{self.prefix}/{key}" if self.prefix else key
        try:
            self.client.upload_file(str(path), self.bucket, target)
        except FileNotFoundError:
            return True  # another server of this endpoint uploaded it meanwhile
        except Exception as error:  # boto3 raises many unrelated types; serving goes on
            log.warning(
                "data capture: cannot upload %s to s3://%s/%s (kept for retry): %s",
                path,
                self.bucket,
                target,
                str(error).splitlines()[0] if str(error) else type(error).__name__,
            )
            self.next_retry = min(self.next_retry, time.time() + RETRY_SECONDS)
            return False
        self.uploaded += 1
        path.unlink(missing_ok=True)
        return True


def _mib(size: int) -> str:
    return f"{size / MIB:.4g} MiB"


def destination(uri: str, staging: Path, staging_cap_bytes: int) -> Destination:
    """The destination a DestinationS3Uri names: ``s3://`` (staged, up to the cap) or a
    local folder."""
    if uri.startswith(S3_SCHEME):
        return S3Destination(uri, staging, staging_cap_bytes)
    return FolderDestination(Path(uri))


def file_key(prefix: str, at: float) -> str:
    """``prefix/yyyy/mm/dd/hh/MM-SS-mmm-<uuid>.jsonl`` for a file begun at ``at`` (UTC)."""
    moment = time.gmtime(at)
    millis = int(at * 1000) % 1000
    hour = time.strftime("%Y/%m/%d/%H", moment)
    return f"{prefix}/{hour}/{time.strftime('%M-%S', moment)}-{millis:03d}-{uuid.uuid4()}.jsonl"


class CaptureFiles:
    """One worker's capture files: the open one, rotated by hour, age and size."""

    def __init__(
        self,
        target: Destination,
        endpoint: str,
        variant: str,
        *,
        rotate_seconds: float,
        rotate_bytes: int,
    ) -> None:
        self.target = target
        self.prefix = f"{endpoint}/{variant}"
        self.rotate_seconds = rotate_seconds
        self.rotate_bytes = rotate_bytes
        self.records = 0  # written, in files published or open
        self.published = 0  # files
        self._file: IO[bytes] | None = None
        self._key = ""
        self._part = Path()
        self._hour = -1
        self._opened = 0.0  # monotonic, for the age
        self._size = 0

    def write(self, at: float, line: bytes) -> bool:
        """Append one record captured at ``at`` (epoch seconds); False if it was dropped
        because the destination is full (a file already open is filled, never cut short)."""
        hour = int(at // 3600)
        if self._file is not None and (hour != self._hour or self._size >= self.rotate_bytes):
            self.publish()
        if self._file is None:
            if self.target.full:
                return False
            self._open(at, hour)
        assert self._file is not None
        self._file.write(line)
        self._size += len(line)
        self.records += 1
        return True

    def flush(self) -> None:
        """Hand what was written to the system (it survives the worker being killed)."""
        if self._file is not None:
            self._file.flush()

    def tick(self, now: float) -> None:
        """Close the open file if it is old enough; retry failed uploads when due."""
        if self._file is not None and time.monotonic() - self._opened >= self.rotate_seconds:
            self.publish()
        self.target.retry(now)

    def close(self) -> None:
        """Publish the open file and retry what is left (the worker is stopping)."""
        self.publish()
        self.target.retry(time.time(), force=True)

    def abandon(self) -> None:
        """After a failed write: publish what the open file holds, if anything can be."""
        try:
            self.publish()
        except OSError as error:
            log.error("data capture: cannot publish %s: %s", self._part, error)
            self._file = None

    def publish(self) -> None:
        """Close the open file and publish it (none open: nothing to do)."""
        handle, self._file = self._file, None
        if handle is None:
            return
        handle.close()
        self.target.publish(self._part, self._key)
        self.published += 1

    def _open(self, at: float, hour: int) -> None:
        self._key = file_key(self.prefix, at)
        self._part = self.target.part(self._key)
        self._part.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self._part, "xb")  # noqa: SIM115 - held open across writes
        self._hour = hour
        self._opened = time.monotonic()
        self._size = 0
