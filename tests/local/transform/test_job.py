"""A local batch transform job against a real ``serve``: every option, failures, order and
count."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from bigmart.local.transform.job import run_transform_job
from bigmart.local.transform.options import TransformOptions
from support.answering_server import answering_server
from support.transform import expected, rows_file


def records_of(csv_with_header: Path) -> list[dict[str, str]]:
    """The rows of a synthetic CSV as JSON records keyed by column."""
    names, *rows = csv_with_header.read_text().splitlines()
    return [dict(zip(names.split(","), row.split(","), strict=True)) for row in rows]


def run(model, source, output, tmp_path, **options):
    return run_transform_job(
        "t",
        str(model),
        str(source),
        str(output),
        TransformOptions(**options),
        report_dir=tmp_path / "report",
        scratch=tmp_path / "scratch",
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
    # AssembleWith=Line: each answer's body, as the server wrote it, then a line end.
    out = (tmp_path / "out" / "records.json.out").read_text().splitlines()
    predictions = [p for line in out for p in json.loads(line)["predictions"]]
    assert len(out) == 1 and predictions == pytest.approx(
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


ROW = "FDA15,9.3,Low Fat,0.016,Dairy,249.8,OUT049,1999,Medium,Tier 1,Supermarket Type1\n"


def test_the_job_ends_failed_with_a_report_when_objects_fail(tmp_path, monkeypatch):
    import bigmart.local.transform.job as transform_job

    class FakeServer:
        container_note = ""  # no container to remove

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
        scratch=tmp_path / "scratch",
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
