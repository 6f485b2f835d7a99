"""Data capture inside ``serve``: what a local endpoint answered, in SageMaker's format.

On SageMaker the platform captures, in front of the container, for an endpoint config with
a DataCaptureConfig. A local endpoint has nothing in front of ``serve`` (its clients reach the
port directly), so ``serve`` captures itself when the local backend sets
``BIGMART_DATA_CAPTURE`` (the DataCaptureConfig and the endpoint's and variant's names, as
JSON; never set on SageMaker). Each request answered 200 is sampled
(InitialSamplingPercentage) and becomes one line of SageMaker's capture format::

    {"captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
     "data": "...", "encoding": "CSV"}, "endpointOutput": {... "mode": "OUTPUT" ...}},
     "eventMetadata": {"eventId": "<uuid>", "inferenceTime": "2024-05-01T13:36:30Z"},
     "eventVersion": "0"}

(CaptureOptions choose the input, the output or both; CaptureContentTypeHeader's CSV and JSON
content types are kept as text, anything else is base64, as on SageMaker.)

Off the request path: a sampled request costs its answer one append to a queue bounded in
bytes (``BIGMART_CAPTURE_BUFFER_MB`` per worker); a writer thread per worker builds the lines
and writes the files (``capture_files``). When the queue is full (the disk or S3 cannot keep
up) the record is dropped and counted, with a warning at most every ``WARN_SECONDS``: capture
never delays or fails an answer. Likewise, while the staging folder of an ``s3://``
destination is at its cap (``BIGMART_CAPTURE_STAGING_MB`` per worker; uploads keep failing),
records are dropped and counted rather than staged. On SIGTERM the worker's lifespan
shutdown, which comes after its last answer, waits for the writer to write and publish
everything queued, so nothing answered is lost.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import queue
import random
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bigmart.container.capture_files import CaptureFiles, destination
from bigmart.container.settings import _integer
from bigmart.contract import MIB, Env

log = logging.getLogger("bigmart.serve")

INPUT, OUTPUT = "Input", "Output"
CSV, JSON, BASE64 = "CSV", "JSON", "BASE64"
#: Bytes a queued record costs beyond its two bodies (the tuple, its floats and strings).
RECORD_OVERHEAD = 256
#: The writer wakes at least this often to close old files and retry uploads.
TICK_SECONDS = 1.0
#: At most this many bytes of lines are written between two flushes.
BATCH_BYTES = MIB
WARN_SECONDS = 10.0
#: How long a stopping worker waits for its writer (SageMaker kills 30 s after SIGTERM).
CLOSE_SECONDS = 20.0


@dataclass(frozen=True)
class CaptureConfig:
    """One endpoint's data capture, as ``serve`` reads it from its environment."""

    endpoint: str
    variant: str
    #: DestinationS3Uri: ``s3://bucket/prefix`` or a folder (as seen by ``serve``).
    destination: str
    percentage: int = 100
    modes: frozenset[str] = frozenset({INPUT, OUTPUT})
    csv_types: frozenset[str] = frozenset()
    json_types: frozenset[str] = frozenset()
    #: Where files for an ``s3://`` destination wait for their upload.
    staging: Path = Path(tempfile.gettempdir()) / "bigmart-capture"
    #: Bytes that may wait in ``staging`` before new records are dropped.
    staging_bytes: int = 512 * MIB
    buffer_bytes: int = 32 * MIB
    rotate_seconds: float = 60.0
    rotate_bytes: int = 16 * MIB

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> CaptureConfig | None:
        """The capture the environment asks for, None if none (or EnableCapture false);
        a malformed value is an error naming the variable."""
        env = os.environ if environ is None else environ
        raw = env.get(Env.BIGMART_DATA_CAPTURE, "").strip()
        if not raw:
            return None
        name = Env.BIGMART_DATA_CAPTURE
        try:
            request = json.loads(raw)
        except ValueError as error:
            raise ValueError(f"{name}: not JSON ({error})") from None
        if not isinstance(request, dict):
            raise ValueError(f"{name}: expected a JSON object")
        if request.get("EnableCapture", True) is False:
            return None
        try:
            endpoint, variant = str(request["EndpointName"]), str(request["VariantName"])
            target = str(request["DestinationS3Uri"])
        except KeyError as missing:
            raise ValueError(f"{name}: no {missing.args[0]}") from None
        percentage = request.get("InitialSamplingPercentage", 100)
        if not isinstance(percentage, int) or not 0 <= percentage <= 100:
            raise ValueError(f"{name}: InitialSamplingPercentage {percentage!r}: expected 0 to 100")
        options = request.get("CaptureOptions") or [{"CaptureMode": INPUT}, {"CaptureMode": OUTPUT}]
        modes = frozenset(str(option.get("CaptureMode")) for option in options)
        if not modes or not modes <= {INPUT, OUTPUT}:
            raise ValueError(f"{name}: CaptureMode {sorted(modes)}: expected Input and/or Output")
        header = request.get("CaptureContentTypeHeader") or {}
        staging = env.get(Env.BIGMART_CAPTURE_STAGING, "").strip()
        return cls(
            endpoint=endpoint,
            variant=variant,
            destination=target,
            percentage=percentage,
            modes=modes,
            csv_types=_media_types(header.get("CsvContentTypes")),
            json_types=_media_types(header.get("JsonContentTypes")),
            staging=Path(staging) if staging else cls.staging,
            staging_bytes=_integer(env, ("BIGMART_CAPTURE_STAGING_MB",), 512, 1, 10**6) * MIB,
            buffer_bytes=_integer(env, ("BIGMART_CAPTURE_BUFFER_MB",), 32, 1, 10**5) * MIB,
            rotate_seconds=_integer(env, ("BIGMART_CAPTURE_ROTATE_SECONDS",), 60, 1, 3600),
            rotate_bytes=_integer(env, ("BIGMART_CAPTURE_ROTATE_MB",), 16, 1, 10**4) * MIB,
        )

    def encoding(self, content_type: str) -> str:
        """CSV, JSON or BASE64: how a body of ``content_type`` is kept (by media type)."""
        media = _media_type(content_type)
        if media in self.csv_types:
            return CSV
        if media in self.json_types:
            return JSON
        return BASE64

    def describe(self) -> str:
        what = " and ".join(m.lower() for m in (INPUT, OUTPUT) if m in self.modes)
        where = f"{self.destination.rstrip('/')}/{self.endpoint}/{self.variant}/"
        return f"{self.percentage}% of requests ({what}) to {where}"


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _media_types(values: Any) -> frozenset[str]:
    return frozenset(_media_type(str(value)) for value in values or ())


def capture_line(
    config: CaptureConfig,
    at: float,
    request: bytes,
    request_type: str,
    answer: bytes,
    answer_type: str,
) -> bytes:
    """One captured invocation as a line of SageMaker's capture format."""
    data: dict[str, Any] = {}
    if INPUT in config.modes:
        data["endpointInput"] = _payload(config, request, request_type, "INPUT")
    if OUTPUT in config.modes:
        data["endpointOutput"] = _payload(config, answer, answer_type, "OUTPUT")
    record = {
        "captureData": data,
        "eventMetadata": {"eventId": str(uuid.uuid4()), "inferenceTime": inference_time(at)},
        "eventVersion": "0",
    }
    return orjson.dumps(record) + b"\n"


def inference_time(at: float) -> str:
    """SageMaker's ``inferenceTime``: UTC to the second, ``2024-05-01T13:36:30Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def _payload(config: CaptureConfig, body: bytes, content_type: str, mode: str) -> dict[str, str]:
    encoding = config.encoding(content_type)
    if encoding != BASE64:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            encoding = BASE64
    if encoding == BASE64:
        text = base64.b64encode(body).decode("ascii")
    return {"observedContentType": content_type, "mode": mode, "data": text, "encoding": encoding}


_STOP = object()


class DataCapture:
    """One worker's capture: sampling and a bounded queue in front of a writer thread."""

    def __init__(self, config: CaptureConfig) -> None:
        self.config = config
        self.dropped = 0
        self._share = config.percentage / 100
        self._input = INPUT in config.modes
        self._output = OUTPUT in config.modes
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._queued = 0  # bytes held by records in the queue
        self._warned = 0.0
        self._thread: threading.Thread | None = None
        self._files: CaptureFiles | None = None

    def start(self) -> None:
        """Start the writer thread (in the worker process: threads do not cross a fork)."""
        self._thread = threading.Thread(target=self._run, name="data-capture", daemon=True)
        self._thread.start()

    def record(self, request: bytes, request_type: str, answer: bytes, answer_type: str) -> None:
        """Queue one answered invocation if it is sampled; never blocks, never raises."""
        if self._share < 1.0 and random.random() >= self._share:
            return
        if not self._input:
            request = b""
        if not self._output:
            answer = b""
        size = len(request) + len(answer) + RECORD_OVERHEAD
        with self._lock:
            # Full: dropped. One record is always admitted, whatever its size.
            if self._queued and self._queued + size > self.config.buffer_bytes:
                self.dropped += 1
                self._warn_dropped()
                return
            self._queued += size
        self._queue.put((time.time(), request, request_type, answer, answer_type, size))

    def _warn_dropped(self) -> None:
        now = time.monotonic()
        if now - self._warned >= WARN_SECONDS:
            self._warned = now
            log.warning(
                "data capture: the queue is full (%d MiB); %d record(s) dropped so far "
                "(the destination cannot keep up; answers are not delayed)",
                self.config.buffer_bytes // MIB,
                self.dropped,
            )

    def close(self, timeout: float = CLOSE_SECONDS) -> None:
        """Write and publish everything queued, then stop the writer (at worker shutdown)."""
        thread = self._thread
        if thread is None:
            return
        self._queue.put(_STOP)
        thread.join(timeout)
        files = self._files
        written = files.records if files is not None else 0
        if thread.is_alive():
            log.error(
                "data capture: the writer did not finish in %g s; records still queued are lost",
                timeout,
            )
        elif written or self.dropped:
            log.info(
                "data capture: %d record(s) captured in %d file(s), %d dropped",
                written,
                files.published if files is not None else 0,
                self.dropped,
            )

    # -- the writer thread --------------------------------------------------------------

    def _run(self) -> None:
        config = self.config
        self._files = files = CaptureFiles(
            destination(config.destination, config.staging, config.staging_bytes),
            config.endpoint,
            config.variant,
            rotate_seconds=config.rotate_seconds,
            rotate_bytes=config.rotate_bytes,
        )
        stopping = False
        while not stopping:
            try:
                item = self._queue.get(timeout=TICK_SECONDS)
            except queue.Empty:
                item = None
            batch = []
            size = 0
            while item is not None:
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
                size += item[-1]
                if size >= BATCH_BYTES:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    item = None
            if batch:
                self._write(files, batch, size)
            try:
                if stopping:
                    files.close()
                else:
                    files.tick(time.time())
            except Exception as error:  # a full disk, a folder gone: serving goes on
                log.error("data capture: cannot publish a capture file: %s", error)

    def _write(self, files: CaptureFiles, batch: list[Any], size: int) -> None:
        config = self.config
        dropped = 0
        try:
            for at, request, request_type, answer, answer_type, _ in batch:
                line = capture_line(config, at, request, request_type, answer, answer_type)
                if not files.write(at, line):
                    dropped += 1  # staging at its cap: the destination logged it
            files.flush()
        except Exception as error:  # a full disk, a folder gone: serving goes on
            log.error("data capture: %d record(s) lost: cannot write: %s", len(batch), error)
            files.abandon()
        finally:
            with self._lock:
                self._queued -= size
                self.dropped += dropped
