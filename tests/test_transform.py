"""Batch transform against a real ``serve``: every option, failures, order and count."""

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

from answering_server import answering_server
from bigmart.container.paths import OptMl
from bigmart.data import synthetic as synth
from bigmart.local import storage
from bigmart.local.predict import predict_csv
from bigmart.local.server_process import ModelServer
from bigmart.local.transform.client import transform_objects
from bigmart.local.transform.invoker import Invoker
from bigmart.local.transform.job import batch_environment, run_transform_job
from bigmart.local.transform.options import TransformOptions
from bigmart.local.transform.plan import Plan
from bigmart.model.artifact import copy_model, pack

HEADER = ",".join(synth.TRAINING_COLUMNS[:-1])
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def model_archive(trained_model, tmp_path_factory) -> Path:
    return pack(trained_model, tmp_path_factory.mktemp("archive") / "model.tar.gz")


def rows_file(path: Path, rows: int, seed: int, header: bool = True) -> Path:
    text = synth.csv_text(rows, seed, with_target=False)
    if not header:
        text = text.split("\n", 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def records_of(csv_with_header: Path) -> list[dict[str, str]]:
    """The rows of a synthetic CSV as JSON records keyed by column."""
    names, *rows = csv_with_header.read_text().splitlines()
    return [dict(zip(names.split(","), row.split(","), strict=True)) for row in rows]


def expected(model: Path, csv_with_header: Path, tmp_path: Path) -> list[str]:
    out = tmp_path / f"expected-{csv_with_header.name}.txt"
    predict_csv(model, csv_with_header, out)
    return out.read_text().splitlines()


def run(model, source, output, tmp_path, **options):
    return run_transform_job(
        "t",
        str(model),
        str(source),
        str(output),
        TransformOptions(**options),
        report_dir=tmp_path / "report",
        echo=lambda _: None,
        progress_bar=False,
    )


def test_many_files_in_subfolders_keep_paths_order_and_count(model_archive, tmp_path):
    source = tmp_path / "in"
    a = rows_file(source / "a.csv", 500, 1)
    b = rows_file(source / "2013" / "b.csv", 300, 2)
    gz = source / "c.csv.gz"
    gz.write_bytes(gzip.compress(a.read_bytes()))
    result = run(model_archive, source, tmp_path / "out", tmp_path)
    assert result.status == "Completed", result.failure_reason
    assert result.records == 500 + 300 + 500
    assert (tmp_path / "out" / "a.csv.out").read_text().splitlines() == expected(
        model_archive, a, tmp_path
    )
    assert (tmp_path / "out" / "2013" / "b.csv.out").read_text().splitlines() == expected(
        model_archive, b, tmp_path
    )
    assert (tmp_path / "out" / "c.csv.gz.out").read_text() == (
        tmp_path / "out" / "a.csv.out"
    ).read_text()


def test_a_file_much_larger_than_the_payload_keeps_order_and_count(model_archive, tmp_path):
    source = rows_file(tmp_path / "in" / "big.csv", 40_000, 3)  # ~3.6 MB
    result = run(
        model_archive,
        source.parent,
        tmp_path / "out",
        tmp_path,
        max_payload_mb=1,
        max_concurrent_transforms=2,
    )
    assert result.status == "Completed", result.failure_reason
    assert result.settings["MaxPayloadInMB"] == 1
    assert (tmp_path / "out" / "big.csv.out").read_text().splitlines() == expected(
        model_archive, source, tmp_path
    )


def test_single_record_strategy_and_unbounded_payload(model_archive, tmp_path):
    source = rows_file(tmp_path / "in" / "s.csv", 40, 4)
    want = expected(model_archive, source, tmp_path)
    single = run(
        model_archive, source, tmp_path / "single", tmp_path, batch_strategy="SingleRecord"
    )
    assert single.settings["BatchStrategy"] == "SingleRecord"
    assert (tmp_path / "single" / "s.csv.out").read_text().splitlines() == want
    run(model_archive, source, tmp_path / "unbounded", tmp_path, max_payload_mb=0)
    assert (tmp_path / "unbounded" / "s.csv.out").read_text().splitlines() == want


def test_server_execution_parameters_are_used_when_the_job_sets_none(model_archive, tmp_path):
    source = rows_file(tmp_path / "in" / "s.csv", 10, 5)
    result = run(model_archive, source, tmp_path / "out", tmp_path)
    assert result.settings == {
        "BatchStrategy": "MultiRecord",
        "MaxPayloadInMB": 6,
        "MaxConcurrentTransforms": os.cpu_count(),
    }


def test_headerless_csv_and_blank_lines(model_archive, tmp_path):
    with_header = rows_file(tmp_path / "h.csv", 30, 6)
    lines = with_header.read_text().splitlines()[1:]
    source = tmp_path / "in" / "n.csv"
    source.parent.mkdir()
    source.write_text("\n".join(lines[:10]) + "\n\n  \n" + "\n".join(lines[10:]))  # no final \n
    result = run(model_archive, source, tmp_path / "out", tmp_path)
    assert result.status == "Completed", result.failure_reason
    assert (tmp_path / "out" / "n.csv.out").read_text().splitlines() == expected(
        model_archive, with_header, tmp_path
    )


def test_join_source_input_csv_keeps_the_input_and_header(model_archive, tmp_path):
    source = rows_file(tmp_path / "in" / "j.csv", 20, 7)
    result = run(model_archive, source, tmp_path / "out", tmp_path, join_source="Input")
    assert result.status == "Completed", result.failure_reason
    out = (tmp_path / "out" / "j.csv.out").read_text().splitlines()
    inputs = source.read_text().splitlines()
    assert out[0] == inputs[0] + ",prediction"
    predictions = expected(model_archive, source, tmp_path)
    assert out[1:] == [f"{line},{p}" for line, p in zip(inputs[1:], predictions, strict=True)]


def test_input_and_output_filters_drop_an_id_column(model_archive, tmp_path):
    plain = rows_file(tmp_path / "plain.csv", 25, 8)
    lines = plain.read_text().splitlines()
    source = tmp_path / "in" / "ids.csv"
    source.parent.mkdir()
    source.write_text("\n".join(f"id-{i},{line}" for i, line in enumerate(lines[1:])) + "\n")
    result = run(
        model_archive,
        source,
        tmp_path / "out",
        tmp_path,
        input_filter="$[1:]",
        join_source="Input",
        output_filter="$[0,-1]",
    )
    assert result.status == "Completed", result.failure_reason
    predictions = expected(model_archive, plain, tmp_path)
    assert (tmp_path / "out" / "ids.csv.out").read_text().splitlines() == [
        f"id-{i},{p}" for i, p in enumerate(predictions)
    ]


def test_json_lines_with_join_and_member_filter(model_archive, tmp_path):
    plain = rows_file(tmp_path / "plain.csv", 12, 9)
    records = records_of(plain)
    source = tmp_path / "in" / "r.jsonl"
    source.parent.mkdir()
    source.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    result = run(
        model_archive,
        source,
        tmp_path / "out",
        tmp_path,
        content_type="application/jsonlines",
        accept="application/jsonlines",
        join_source="Input",
        output_filter="$['Item_Identifier','SageMakerOutput']",
    )
    assert result.status == "Completed", result.failure_reason
    out = [json.loads(line) for line in (tmp_path / "out" / "r.jsonl.out").read_text().splitlines()]
    predictions = expected(model_archive, plain, tmp_path)
    assert [o["Item_Identifier"] for o in out] == [r["Item_Identifier"] for r in records]
    assert [o["SageMakerOutput"]["prediction"] for o in out] == pytest.approx(
        [float(p) for p in predictions]
    )


def test_json_lines_records_that_are_lists_are_joined_as_sagemaker_input(model_archive, tmp_path):
    plain = rows_file(tmp_path / "plain.csv", 5, 4)
    rows = [line.split(",") for line in plain.read_text().splitlines()[1:]]
    source = tmp_path / "in" / "r.jsonl"
    source.parent.mkdir()
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = run(
        model_archive,
        source,
        tmp_path / "out",
        tmp_path,
        content_type="application/jsonlines",
        accept="application/jsonlines",
        join_source="Input",
    )
    assert result.status == "Completed", result.failure_reason
    out = [json.loads(line) for line in (tmp_path / "out" / "r.jsonl.out").read_text().splitlines()]
    assert [o["SageMakerInput"] for o in out] == rows
    assert [o["SageMakerOutput"]["prediction"] for o in out] == pytest.approx(
        [float(p) for p in expected(model_archive, plain, tmp_path)]
    )


def test_accept_jsonlines_and_assemble_none(model_archive, tmp_path):
    source = rows_file(tmp_path / "in" / "a.csv", 15, 10)
    predictions = expected(model_archive, source, tmp_path)
    run(model_archive, source, tmp_path / "jl", tmp_path, accept="application/jsonlines")
    out = (tmp_path / "jl" / "a.csv.out").read_text().splitlines()
    assert [json.loads(line)["prediction"] for line in out] == pytest.approx(
        [float(p) for p in predictions]
    )
    run(model_archive, source, tmp_path / "none", tmp_path, assemble_with="None")
    assert (tmp_path / "none" / "a.csv.out").read_text().splitlines() == predictions


def test_split_none_sends_each_object_whole(model_archive, tmp_path):
    plain = rows_file(tmp_path / "plain.csv", 5, 11)
    document = {"instances": records_of(plain)}
    source = tmp_path / "in" / "doc.json"
    source.parent.mkdir()
    source.write_text(json.dumps(document, indent=2))  # many lines, one record
    result = run(
        model_archive,
        source,
        tmp_path / "out",
        tmp_path,
        split_type="None",
        content_type="application/json",
        accept="application/json",
    )
    assert result.status == "Completed", result.failure_reason
    out = json.loads((tmp_path / "out" / "doc.json.out").read_text())
    assert out["predictions"] == pytest.approx(
        [float(p) for p in expected(model_archive, plain, tmp_path)]
    )


def test_one_bad_file_fails_alone_with_a_report_naming_file_and_line(model_archive, tmp_path):
    source = tmp_path / "in"
    good = rows_file(source / "good.csv", 200, 12)
    bad = rows_file(source / "bad.csv", 200, 13)
    lines = bad.read_text().splitlines()
    cells = lines[150].split(",")
    cells[5] = "expensive"
    lines[150] = ",".join(cells)
    bad.write_text("\n".join(lines) + "\n")
    rows_file(source / "other.csv", 100, 14)
    result = run(model_archive, source, tmp_path / "out", tmp_path, max_payload_mb=1)
    assert result.status == "Failed"
    assert not (tmp_path / "out" / "bad.csv.out").exists()
    assert not list((tmp_path / "out").glob(".*partial"))
    assert (tmp_path / "out" / "good.csv.out").read_text().splitlines() == expected(
        model_archive, good, tmp_path
    )
    assert len((tmp_path / "out" / "other.csv.out").read_text().splitlines()) == 100
    assert "bad.csv, line 151" in result.failure_reason
    assert "Item_MRP" in result.failure_reason
    report = json.loads(result.report.read_text())
    failed = [o for o in report["objects"] if o["status"] == "Failed"]
    assert len(failed) == 1 and failed[0]["line"] == 151 and failed[0]["input"] == str(bad)


def test_a_record_over_the_payload_limit_fails_its_file(model_archive, tmp_path):
    source = tmp_path / "in" / "huge.csv"
    source.parent.mkdir()
    source.write_bytes(b"x" * (1024 * 1024 + 10) + b"\n")
    result = run(model_archive, source, tmp_path / "out", tmp_path, max_payload_mb=1)
    assert result.status == "Failed" and "MaxPayloadInMB" in result.failure_reason
    assert not (tmp_path / "out" / "huge.csv.out").exists()


def test_a_worker_killed_mid_job_loses_and_doubles_nothing(model_archive, trained_model, tmp_path):
    source = rows_file(tmp_path / "in" / "big.csv", 120_000, 15)  # ~11 MB, 1 MB batches
    root = OptMl(tmp_path / "opt_ml")
    copy_model(trained_model, root.model)
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


def test_cli_transform_reports_and_records_the_job(model_archive, tmp_path):
    source = rows_file(tmp_path / "in" / "c.csv", 50, 16)
    bigmart = Path(sys.executable).with_name("bigmart")
    result = subprocess.run(
        [
            str(bigmart),
            "transform",
            "--model",
            str(model_archive),
            "--input",
            str(source.parent),
            "--output",
            str(tmp_path / "out"),
            "--name",
            "cli-transform-1",
            "--max-payload-mb",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "status: Completed (50 records" in result.stdout
    shown = subprocess.run(
        [str(bigmart), "jobs", "show", "cli-transform-1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    record = json.loads(shown.stdout)
    assert record["status"] == "Completed" and record["metrics"]["records"] == 50
    assert record["parameters"]["max_payload_mb"] == 1
    listed = subprocess.run([str(bigmart), "jobs"], capture_output=True, text=True, timeout=60)
    assert "cli-transform-1" in listed.stdout


def test_cli_refuses_inconsistent_options(model_archive, tmp_path):
    bigmart = Path(sys.executable).with_name("bigmart")
    result = subprocess.run(
        [
            str(bigmart),
            "transform",
            "--model",
            str(model_archive),
            "--input",
            str(tmp_path),
            "--output",
            str(tmp_path / "o"),
            "--max-payload-mb",
            "60",
            "--max-concurrent-transforms",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "must not exceed 100" in result.stderr


def real_rows_file(path: Path, real_csv: Path, rows: int, *, row_ids: bool, bom: bool) -> Path:
    """The real file's header and first rows, with a Row_ID column first if asked."""
    lines = real_csv.read_text().splitlines()[: rows + 1]
    if row_ids:
        ids = ["Row_ID", *(f"r{i}" for i in range(1, rows + 1))]
        lines = [f"{i},{line}" for i, line in zip(ids, lines, strict=True)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + ("\n".join(lines) + "\n").encode())
    return path


@pytest.mark.parametrize("strategy", ["MultiRecord", "SingleRecord"])
def test_the_header_is_recognised_after_the_input_filter(
    model_archive, real_test_csv, tmp_path, strategy
):
    plain = real_rows_file(tmp_path / "plain.csv", real_test_csv, 40, row_ids=False, bom=False)
    source = real_rows_file(tmp_path / "in" / "ids.csv", real_test_csv, 40, row_ids=True, bom=False)
    result = run(
        model_archive,
        source.parent,
        tmp_path / "out",
        tmp_path,
        input_filter="$[1:]",
        join_source="Input",
        output_filter="$[0,-1]",
        batch_strategy=strategy,
    )
    assert result.status == "Completed", result.failure_reason
    assert result.records == 40
    predictions = expected(model_archive, plain, tmp_path)
    assert (tmp_path / "out" / "ids.csv.out").read_text().splitlines() == [
        "Row_ID,prediction",
        *(f"r{i},{p}" for i, p in enumerate(predictions, start=1)),
    ]


def test_a_utf8_bom_before_the_header_is_dropped(model_archive, real_test_csv, tmp_path):
    plain = real_rows_file(tmp_path / "plain.csv", real_test_csv, 30, row_ids=False, bom=False)
    source = real_rows_file(
        tmp_path / "in" / "excel.csv", real_test_csv, 30, row_ids=False, bom=True
    )
    predictions = expected(model_archive, plain, tmp_path)
    result = run(model_archive, source.parent, tmp_path / "out", tmp_path)
    assert result.status == "Completed", result.failure_reason
    assert (tmp_path / "out" / "excel.csv.out").read_text().splitlines() == predictions
    joined = run(model_archive, source.parent, tmp_path / "joined", tmp_path, join_source="Input")
    assert joined.status == "Completed", joined.failure_reason
    out = (tmp_path / "joined" / "excel.csv.out").read_text().splitlines()
    header = plain.read_text().splitlines()[0]
    assert out[0] == header + ",prediction"  # no BOM inside the output


def test_json_documents_split_by_line_go_several_to_a_request(model_archive, tmp_path):
    plain = rows_file(tmp_path / "plain.csv", 20, 17)
    source = tmp_path / "in" / "records.json"
    source.parent.mkdir()
    source.write_text("\n".join(json.dumps(record) for record in records_of(plain)))
    result = run(
        model_archive,
        source,
        tmp_path / "out",
        tmp_path,
        content_type="application/json",
        accept="application/json",
        batch_strategy="MultiRecord",
    )
    assert result.status == "Completed", result.failure_reason
    out = (tmp_path / "out" / "records.json.out").read_text().splitlines()
    assert [float(p) for p in out] == pytest.approx(
        [float(p) for p in expected(model_archive, plain, tmp_path)]
    )


def test_a_first_line_longer_than_a_header_stays_one_record(model_archive, tmp_path):
    plain = rows_file(tmp_path / "plain.csv", 5, 18)
    lines = plain.read_text().splitlines()[1:]
    ids = ["x" * 70_000, *(f"id-{i}" for i in range(1, len(lines)))]  # over HEADER_LIMIT
    source = tmp_path / "in" / "long.csv"
    source.parent.mkdir()
    source.write_text("".join(f"{i},{line}\n" for i, line in zip(ids, lines, strict=True)))
    result = run(
        model_archive,
        source,
        tmp_path / "out",
        tmp_path,
        input_filter="$[1:]",
        join_source="Input",
        output_filter="$[0,-1]",
    )
    assert result.status == "Completed", result.failure_reason
    predictions = expected(model_archive, plain, tmp_path)
    assert (tmp_path / "out" / "long.csv.out").read_text().splitlines() == [
        f"{i},{p}" for i, p in zip(ids, predictions, strict=True)
    ]


# --- Every object ends; memory bounded by the settings; outputs never shared --------------
# These run against a stand-in for /invocations (tests/answering_server.py): no model.

TESTS = Path(__file__).resolve().parent
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


def test_the_job_ends_failed_with_a_report_when_objects_fail(tmp_path, monkeypatch):
    import bigmart.local.transform.job as transform_job

    class FakeServer:
        def __init__(self, *args, **kwargs):
            self.server = None

        def start(self):
            self.context = answering_server()
            self.port = self.context.__enter__()

        def execution_parameters(self):
            return {}

        def stop(self):
            self.context.__exit__(None, None, None)

    monkeypatch.setattr(transform_job, "ModelServer", FakeServer)
    monkeypatch.setattr(transform_job, "materialize_model", lambda model, folder: None)
    source = tmp_path / "in"
    source.mkdir()
    (source / "a.csv.gz").write_bytes(gzip.compress(ROW.encode() * 500)[:-30])
    (source / "b.csv").write_text(ROW * 4)
    result = run_transform_job(
        "t",
        "unused",
        str(source),
        str(tmp_path / "out"),
        TransformOptions(),
        report_dir=tmp_path / "report",
        echo=lambda _: None,
        progress_bar=False,
    )
    assert result.status == "Failed"
    assert result.failure_reason.startswith(
        f"1 of 2 input object(s) failed; {source}/a.csv.gz, line"
    )
    assert "gzip data is truncated or corrupt" in result.failure_reason
    report = json.loads(result.report.read_text())
    assert [o["status"] for o in report["objects"]] == ["Failed", "Completed"]


def bigmart_main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    from bigmart.cli import main as cli

    with pytest.raises(SystemExit) as exit_:
        cli.main(list(args))
    out, err = capsys.readouterr()
    return exit_.value.code, out, err


def test_cli_ends_the_job_record_whatever_is_raised_inside(tmp_path, monkeypatch, capsys):
    import bigmart.local.transform.job as transform_job
    from bigmart.cli.common import store

    def defect(*args, **kwargs):
        raise KeyError("a defect\nin two lines")

    monkeypatch.setattr(transform_job, "run_transform_job", defect)
    common = ["transform", "--model", "m", "--input", str(tmp_path), "--output", str(tmp_path)]
    code, _, err = bigmart_main(monkeypatch, capsys, *common, "--name", "defect-1")
    assert code == 1 and "Traceback" not in err
    reason = err.splitlines()[-1]
    assert reason.startswith("failure reason: unexpected KeyError: 'a defect\\nin two lines'")
    record = store().get("defect-1")
    assert record.status == "Failed" and record.ended
    assert "KeyError" in record.failure_reason and "traceback.txt" in record.failure_reason
    assert "def defect" not in reason  # the traceback is in the file, not printed
    assert (
        "raise KeyError" in (Path(record.failure_reason.split("traceback: ")[1][:-1])).read_text()
    )

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(transform_job, "run_transform_job", interrupted)
    code, _, _ = bigmart_main(monkeypatch, capsys, *common, "--name", "interrupted-1")
    assert code == 130
    record = store().get("interrupted-1")
    assert record.status == "Stopped" and record.ended


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
            str(TESTS / "transform_probe.py"),
            str(source),
            str(tmp_path / "out"),
            json.dumps({"max_payload_mb": 1, **options}),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    result = json.loads(probe.stdout)
    good, long = result["outcomes"]
    assert good["status"] == "Completed" and good["records"] == 10
    assert (long["status"], long["line"]) == ("Failed", line)
    assert long["reason"] == "a record is larger than MaxPayloadInMB (1 MB)"
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


def test_cli_a_broken_object_fails_alone_and_the_job_ends_failed(model_archive, tmp_path):
    source = rows_file(tmp_path / "in" / "good.csv", 40, 19)
    text = rows_file(tmp_path / "rows.csv", 2000, 20).read_bytes()
    (source.parent / "broken.csv.gz").write_bytes(gzip.compress(text)[:-200])  # truncated
    output = tmp_path / "out"
    output.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (output / ".good.csv.out.partial").symlink_to(victim)  # the old fixed temporary name
    bigmart = Path(sys.executable).with_name("bigmart")
    command = [str(bigmart), "transform", "--model", str(model_archive), "--input"]
    result = subprocess.run(
        [*command, str(source.parent), "--output", str(output), "--name", "cli-broken-1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    reason = result.stderr.strip().splitlines()[-1]
    assert reason.startswith("failure reason: 1 of 2 input object(s) failed; ")
    assert "broken.csv.gz, line " in reason and "gzip data is truncated or corrupt" in reason
    assert (output / "good.csv.out").read_text().splitlines() == expected(
        model_archive, source, tmp_path
    )
    assert not (output / "broken.csv.gz.out").exists()
    assert victim.read_text() == "precious\n"
    shown = subprocess.run(
        [str(bigmart), "jobs", "show", "cli-broken-1"], capture_output=True, text=True, timeout=60
    )
    record = json.loads(shown.stdout)
    assert record["status"] == "Failed" and "broken.csv.gz, line" in record["failure_reason"]
    report = json.loads(Path(record["artifacts"]["report"]).read_text())
    assert [o["status"] for o in report["objects"]] == ["Failed", "Completed"]
