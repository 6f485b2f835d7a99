"""``bigmart drift`` (issue 13, part 4): two local endpoints capture what they are sent,
unchanged rows and rows with Item_MRP tripled; the drift report flags Item_MRP, and no
other feature, only for the second. Plus --since, unreadable lines and refusals."""

from __future__ import annotations

import csv
import json
import subprocess
import time
from pathlib import Path

import pytest

from bigmart.model.artifact import read_model, write_model
from support.capture import capture_lines, folder_files, records_of, write_capture_file
from support.cli import BIGMART, bigmart

ROWS = 2_000
PER_REQUEST = 500


def request_bodies(csv_file: Path, mrp_factor: float, folder: Path) -> list[tuple[Path, str]]:
    """The first ``ROWS`` rows of ``csv_file`` (Item_MRP times ``mrp_factor``) as request
    bodies of ``PER_REQUEST`` rows: CSV with a header, and JSON instances (records)."""
    with open(csv_file, newline="") as handle:
        records = [row for _, row in zip(range(ROWS), csv.DictReader(handle), strict=False)]
    for record in records:
        record["Item_MRP"] = repr(float(record["Item_MRP"]) * mrp_factor)
    folder.mkdir(parents=True, exist_ok=True)
    bodies = []
    for number, start in enumerate(range(0, ROWS, PER_REQUEST)):
        chunk = records[start : start + PER_REQUEST]
        path = folder / f"body-{number}"
        if number % 2:
            path.write_text(json.dumps({"instances": chunk}))
            bodies.append((path, "application/json"))
        else:
            with open(path, "w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(chunk[0]), lineterminator="\n")
                writer.writeheader()
                writer.writerows(chunk)
            bodies.append((path, "text/csv"))
    return bodies


def capture_endpoint(name: str, model: Path, destination: Path, bodies) -> None:
    """Create a captured endpoint, send ``bodies``, delete it (which flushes the capture)."""
    created = bigmart(
        "endpoint", "create", "--model", str(model), "--name", name, "--workers", "1",
        "--capture-s3-uri", str(destination), "--capture-percent", "100",
    )  # fmt: skip
    assert created.returncode == 0, created.stdout + created.stderr
    try:
        for number, (body, kind) in enumerate(bodies):
            accept = "application/json" if number == 1 else "text/csv"
            sent = bigmart(
                "endpoint", "invoke", name, "--body", str(body), "--content-type", kind,
                "--accept", accept,
            )  # fmt: skip
            assert sent.returncode == 0, sent.stderr
    finally:
        assert bigmart("endpoint", "delete", name).returncode == 0


def drift_json(*args: str) -> dict:
    done = bigmart("drift", *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_tripled_price_drifts_only_where_it_was_sent(
    trained_model, model_archive, real_test_csv, tmp_path
):
    destination = tmp_path / "capture"
    capture_endpoint(
        "drift-same", trained_model, destination, request_bodies(real_test_csv, 1.0, tmp_path / "a")
    )
    capture_endpoint(
        "drift-mrp", trained_model, destination, request_bodies(real_test_csv, 3.0, tmp_path / "b")
    )
    # what was captured is SageMaker's format (checked field by field)
    for name in ("drift-same", "drift-mrp"):
        files = [(f"{name}/{key}", content) for key, content in folder_files(destination / name)]
        assert len(records_of(files, name)) == ROWS // PER_REQUEST

    same = drift_json("--model", str(trained_model), "--capture", str(destination / "drift-same"))
    assert same["rows"] == ROWS and same["requests"] == ROWS // PER_REQUEST
    assert same["drifted"] == []
    assert all(f["drift"] is False for f in same["features"].values())
    assert same["predictions"]["drift"] is False and same["predictions"]["rows"] == ROWS

    report = tmp_path / "mrp.html"
    shifted = drift_json(
        "--model", str(model_archive), "--capture", str(destination / "drift-mrp"),
        "--output", str(report),
    )  # fmt: skip
    assert shifted["rows"] == ROWS
    assert shifted["drifted"] == ["Item_MRP"]
    assert shifted["features"]["Item_MRP"]["psi"] > 1.0
    assert [n for n, f in shifted["features"].items() if f["drift"]] == ["Item_MRP"]
    assert shifted["predictions"]["drift"] is True
    assert "Drift report: drift-mrp/AllTraffic" in report.read_text()

    # the same rows, as the endpoint decoded them: only Item_MRP's counts differ
    for name, feature in same["features"].items():
        if name != "Item_MRP":
            assert feature["bins"] == shifted["features"][name]["bins"], name

    # without --json: a summary, and the HTML in the current folder
    done = bigmart(
        "drift", "--model", str(trained_model), "--capture", str(destination / "drift-mrp"),
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "drifted (PSI >= 0.2): Item_MRP (PSI " in done.stdout
    assert "predictions drifted" in done.stdout
    assert done.stdout.rstrip().endswith(f"wrote {tmp_path / 'drift-report.html'}")
    assert (tmp_path / "drift-report.html").is_file()


@pytest.fixture(scope="module")
def one_request() -> bytes:
    row = (
        "FDW58,20.75,Low Fat,0.007564836,Snack Foods,107.8622,OUT049,1999,Medium,Tier 1,"
        "Supermarket Type1\n"
    )
    return row.encode()


def test_since_takes_an_age_and_unreadable_lines_are_named_not_fatal(
    trained_model, tmp_path, one_request
):
    now = time.time()
    for age_hours in (30, 5, 1):
        at = now - age_hours * 3600
        exchange = (one_request * age_hours, "text/csv", b"1000.0\n" * age_hours, "text/csv")
        write_capture_file(tmp_path, "ep", at, capture_lines(at, [exchange]))
    bad = write_capture_file(tmp_path, "ep", now, b"{not json\n" + capture_lines(now, []))
    everything = drift_json("--model", str(trained_model), "--capture", str(tmp_path))
    assert everything["rows"] == 36 and everything["few_rows"] is True
    recent = drift_json("--model", str(trained_model), "--capture", str(tmp_path), "--since", "6h")
    assert recent["rows"] == 6 and recent["read"]["files_before_since"] == 1
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 2 * 3600))
    assert (
        drift_json("--model", str(trained_model), "--capture", str(tmp_path), "--since", iso)[
            "rows"
        ]
        == 1
    )

    done = bigmart("drift", "--model", str(trained_model), "--capture", str(tmp_path), "--json")
    assert done.returncode == 0
    assert f"{bad}, line 1: not JSON" in done.stderr
    assert json.loads(done.stdout)["read"]["unreadable_lines"] == [
        {"file": str(bad), "line": 1, "reason": done.stderr.split("line 1: ")[1].strip()}
    ]

    wrong = bigmart("drift", "--model", str(trained_model), "--capture", str(tmp_path),
                    "--since", "last week")  # fmt: skip
    assert wrong.returncode == 2
    assert wrong.stderr.startswith("bigmart: error: --since 'last week': expected an ISO 8601")
    assert wrong.stderr.count("\n") == 1


def test_refusals_are_one_line(trained_model, tmp_path, one_request):
    older = read_model(trained_model)
    older.baseline = None
    write_model(older, tmp_path / "old-model")
    at = time.time()
    write_capture_file(
        tmp_path / "capture", "ep", at,
        capture_lines(at, [(one_request, "text/csv", b"1.0\n", "text/csv")]),
    )  # fmt: skip
    cases = [
        (("--model", str(tmp_path / "old-model")), 2, "predates baseline statistics"),
        (("--model", str(tmp_path / "nowhere")), 2, "--model: model"),
    ]
    for model_args, code, expected in cases:
        done = bigmart("drift", *model_args, "--capture", str(tmp_path / "capture"))
        assert done.returncode == code, done.stderr
        assert done.stderr.startswith("bigmart: error: ") and expected in done.stderr
        assert done.stderr.count("\n") == 1, done.stderr
    missing = bigmart("drift", "--model", str(trained_model), "--capture", str(tmp_path / "no"))
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1
    assert "no such file or folder" in missing.stderr
    help_text = subprocess.run([BIGMART, "drift", "--help"], capture_output=True, text=True)
    assert "--since" in help_text.stdout and "--max-rows" in help_text.stdout
