"""The batch transform client: records split, batched and posted in order; a bad object
fails alone; memory bounded by the payload limit."""

from __future__ import annotations

import contextlib
import gzip
import http.server
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bigmart.container.paths import OptMl
from bigmart.data import synthetic as synth
from bigmart.local import storage
from bigmart.local.server_process import ModelServer
from bigmart.local.transform.client import transform_objects
from bigmart.local.transform.invoker import Invoker
from bigmart.local.transform.job import batch_environment
from bigmart.local.transform.options import TransformOptions
from bigmart.local.transform.plan import Plan
from bigmart.model.artifact import rewrite_model
from support.answering_server import answering_server
from support.paths import TESTS
from support.transform import expected, rows_file


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


HEADER = ",".join(synth.TRAINING_COLUMNS[:-1])
MIB = 1024 * 1024


def test_a_worker_killed_mid_job_loses_and_doubles_nothing(model_archive, trained_model, tmp_path):
    source = rows_file(tmp_path / "in" / "big.csv", 120_000, 15)  # ~11 MB, 1 MB batches
    root = OptMl(tmp_path / "opt_ml")
    rewrite_model(trained_model, root.model)
    options = TransformOptions(max_payload_mb=1, max_concurrent_transforms=2)
    server = ModelServer(
        root.root, environment={**batch_environment(options), "SAGEMAKER_MODEL_SERVER_WORKERS": "2"}
    )
    server.start()
    try:
        plan = Plan.resolve(options, server.execution_parameters())
        killed: list[int] = []

        def kill_a_worker() -> None:
            time.sleep(0.8)
            pid = server.worker_pids()[0]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

        killer = threading.Thread(target=kill_a_worker)
        killer.start()
        outcomes = transform_objects(
            storage.list_objects(str(source.parent)),
            str(tmp_path / "out"),
            plan,
            server.port,
            echo=lambda _: None,
        )
        killer.join()
    finally:
        server.stop()
    assert killed, "the worker was not killed"
    assert [o.status for o in outcomes] == ["Completed"], outcomes
    assert (tmp_path / "out" / "big.csv.out").read_text().splitlines() == expected(
        model_archive, source, tmp_path
    )


class _FlakyHandler(http.server.BaseHTTPRequestHandler):
    """Drops the first two connections without answering, then answers."""

    calls = 0

    def do_POST(self) -> None:
        type(self).calls += 1
        length = int(self.headers["Content-Length"])
        self.rfile.read(length)
        if type(self).calls <= 2:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"1\n")

    def log_message(self, *args: object) -> None:
        pass


def test_invoker_retries_transient_failures_then_gives_up():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FlakyHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        plan = Plan.resolve(TransformOptions(), {})
        invoker = Invoker(server.server_address[1], plan)
        assert invoker.invoke(b"row\n") == (200, "text/csv", b"1\n")
        assert invoker.retries == 2
        _FlakyHandler.calls = -10  # the next eleven connections all drop
        with pytest.raises(ConnectionError, match="after 3 retries"):
            invoker.invoke(b"row\n")
    finally:
        server.shutdown()


# --- Every object ends; memory bounded by the settings; outputs never shared --------------
# These run against a stand-in for /invocations (support/answering_server.py): no model.

ROW = "FDA15,9.3,Low Fat,0.016,Dairy,249.8,OUT049,1999,Medium,Tier 1,Supermarket Type1\n"


def transform_folder(source: Path, output: Path, **options) -> list:
    plan = Plan.resolve(TransformOptions(**options), {})
    with answering_server() as port:
        return transform_objects(
            storage.list_objects(str(source)), str(output), plan, port, echo=lambda _: None
        )


def left_behind(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*"))


@pytest.mark.parametrize("join", ["None", "Input"])
def test_a_corrupt_or_truncated_gzip_object_fails_alone_naming_its_line(tmp_path, join):
    source = tmp_path / "in"
    source.mkdir()
    text = (HEADER + "\n" + ROW * 3000).encode()  # ~240 KB, compresses to a few KB
    packed = gzip.compress(text)
    (source / "a-good.csv").write_bytes(text)
    (source / "b-truncated.csv.gz").write_bytes(packed[: len(packed) // 2])  # EOFError
    corrupt = bytearray(packed)
    corrupt[len(corrupt) // 2 : len(corrupt) // 2 + 40] = b"\xff" * 40  # zlib.error
    (source / "c-corrupt.csv.gz").write_bytes(bytes(corrupt))
    (source / "d-not-gzip.csv.gz").write_bytes(text)  # gzip.BadGzipFile
    (source / "e-good.csv.gz").write_bytes(packed)
    outcomes = transform_folder(source, tmp_path / "out", max_payload_mb=1, join_source=join)
    by_name = {Path(o.input).name: o for o in outcomes}
    assert [by_name[n].status for n in sorted(by_name)] == [
        "Completed",
        "Failed",
        "Failed",
        "Failed",
        "Completed",
    ]
    for name in ("b-truncated.csv.gz", "c-corrupt.csv.gz", "d-not-gzip.csv.gz"):
        failed = by_name[name]
        assert "gzip data is truncated or corrupt" in failed.reason, failed
        assert "\n" not in failed.reason
        assert not Path(failed.output).exists()
    assert by_name["d-not-gzip.csv.gz"].line == 1
    assert 1 < by_name["b-truncated.csv.gz"].line <= 3001  # the line being read when it broke
    assert by_name["a-good.csv"].records == by_name["e-good.csv.gz"].records == 3000
    lines = (tmp_path / "out" / "e-good.csv.gz.out").read_text().splitlines()
    assert len(lines) == 3000 + (join == "Input")
    assert left_behind(tmp_path / "out") == []


def deep(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    "options",
    [{"join_source": "Input"}, {"input_filter": "$.x"}],
    ids=["join", "input-filter"],
)
def test_a_record_nested_too_deep_to_write_fails_its_object_naming_the_line(tmp_path, options):
    source = tmp_path / "in"
    source.mkdir()
    records = [{"x": {"Item_MRP": 10.0 + i}} for i in range(5)]
    (source / "good.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    records[2] = {"x": deep(300)}  # orjson writes at most 255 levels
    (source / "deep.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    outcomes = transform_folder(
        source, tmp_path / "out", content_type="application/jsonlines", **options
    )
    by_name = {Path(o.input).name: o for o in outcomes}
    assert by_name["good.jsonl"].status == "Completed" and by_name["good.jsonl"].records == 5
    failed = by_name["deep.jsonl"]
    assert (failed.status, failed.line) == ("Failed", 3)
    assert "cannot be written as JSON" in failed.reason and "255 levels" in failed.reason
    assert not (tmp_path / "out" / "deep.jsonl.out").exists()
    assert left_behind(tmp_path / "out") == []


def test_an_unexpected_error_fails_its_object_and_the_others_complete(tmp_path, monkeypatch):
    source = tmp_path / "in"
    source.mkdir()
    (source / "a.csv").write_text(ROW * 3)
    (source / "b.csv").write_text(ROW * 4)
    real_open_write = storage.open_write

    def open_write(location):
        if location.endswith("a.csv.out"):
            raise RuntimeError("a defect\nover two lines")
        return real_open_write(location)

    monkeypatch.setattr(storage, "open_write", open_write)
    outcomes = transform_folder(source, tmp_path / "out")
    assert [(o.status, o.reason) for o in outcomes] == [
        ("Failed", "RuntimeError: a defect over two lines"),
        ("Completed", None),
    ]
    assert (tmp_path / "out" / "b.csv.out").read_text() == "1.0\n" * 4


def gzipped_long_line(path: Path, line: int, megabytes: int) -> Path:
    """A small .csv.gz whose line ``line`` is ``megabytes`` MB long (no line end in it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb", compresslevel=1) as handle:
        handle.write(ROW.encode() * (line - 1))
        piece = b"x" * MIB
        for _ in range(megabytes):
            handle.write(piece)
        handle.write(b"\n" + ROW.encode() * 10)
    return path


@pytest.mark.parametrize(
    ("line", "options"),
    [(1, {}), (3, {"join_source": "Input"})],
    ids=["first-line-in-blocks", "later-line-record-by-record"],
)
def test_a_long_line_is_refused_with_memory_bounded_by_the_payload(tmp_path, line, options):
    source = tmp_path / "in"
    gzipped_long_line(source / "long.csv.gz", line, 96)  # ~0.3 MB on disk
    (source / "good.csv").write_text(ROW * 10)
    probe = subprocess.run(
        [
            sys.executable,
            "-m",
            "support.transform_probe",
            str(source),
            str(tmp_path / "out"),
            json.dumps({"max_payload_mb": 1, **options}),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=TESTS,
    )
    assert probe.returncode == 0, probe.stderr
    result = json.loads(probe.stdout)
    good, long = result["outcomes"]
    assert good["status"] == "Completed" and good["records"] == 10
    assert (long["status"], long["line"]) == ("Failed", line)
    assert long["reason"] == "a record is larger than MaxPayloadInMB (1 MiB)"
    # Reading the 96 MB line whole took ~300 MB; the process itself needs ~40 MB.
    assert result["peak_mib"] < 150, result["peak_mib"]


class _CountingStream(io.RawIOBase):
    """``size`` bytes of one endless line, counting what was read."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(len(buffer), self.left)
        buffer[:count] = b"x" * count
        self.left -= count
        self.read_bytes += count
        return count


@pytest.mark.parametrize("options", [{}, {"join_source": "Input"}, {"max_payload_mb": 0}])
def test_a_long_record_is_refused_after_reading_little_more_than_the_limit(
    tmp_path, monkeypatch, options
):
    streams = []

    @contextlib.contextmanager
    def open_read(location):
        streams.append(
            _CountingStream(40 * MIB if options.get("max_payload_mb") != 0 else 90 * MIB)
        )
        yield io.BufferedReader(streams[-1])

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "endless.csv").write_text("")
    monkeypatch.setattr(storage, "open_read", open_read)
    outcomes = transform_folder(
        tmp_path / "in", tmp_path / "out", **{"max_payload_mb": 1, **options}
    )
    assert [(o.status, o.line) for o in outcomes] == [("Failed", 1)]
    limit = 64 * MIB if options.get("max_payload_mb") == 0 else MIB
    # the header look-ahead and the buffered reader's read-ahead on top of limit + 1
    assert streams[0].read_bytes <= limit + 1 + 2 * 64 * 1024 + 8192 * 2
