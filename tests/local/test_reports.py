"""Finding a training job's report: its job folder, a model beside it, or its output.tar.gz."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from bigmart.local.jobs import JobStore
from bigmart.local.reports import (
    ReportNotFound,
    extract_report,
    report_of_job,
    report_of_path,
)
from bigmart.model.archive import pack

PAGE = b"<!DOCTYPE html><title>report</title>"


def _job(root: Path) -> Path:
    """A finished job's folder as ``bigmart train`` leaves it (files faked)."""
    (root / "model").mkdir(parents=True)
    (root / "model" / "metadata.json").write_text("{}")
    data = root / "output" / "data"
    data.mkdir(parents=True)
    (data / "report.html").write_bytes(PAGE)
    (data / "metrics.json").write_text("{}")
    pack(root / "model", root / "output" / "model.tar.gz")
    pack(data, root / "output" / "output.tar.gz")
    return data / "report.html"


def _tar(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_a_job_folder_its_model_and_its_archives_lead_to_its_report(tmp_path):
    report = _job(tmp_path / "runs" / "job-1")
    job = tmp_path / "runs" / "job-1"
    for given in (
        job,
        job / "output",
        job / "model",
        job / "output" / "model.tar.gz",
        report,
    ):
        assert report_of_path(given) == report, given


def test_a_model_with_no_report_beside_it_says_where_it_looked(tmp_path):
    job = tmp_path / "job"
    _job(job)
    (job / "output" / "data" / "report.html").unlink()
    with pytest.raises(ReportNotFound) as caught:
        report_of_path(job / "output" / "model.tar.gz")
    message = str(caught.value)
    assert "output/data/report.html" in message and "tar -xzf" in message
    assert "\n" not in message


def test_a_local_jobs_report_is_in_its_folder(tmp_path):
    report = _job(tmp_path / "runs" / "job-2")
    store = JobStore(tmp_path / "home")
    store.create(
        "job-2",
        "training",
        {"OutputDataConfig": {"S3OutputPath": str(tmp_path / "runs")}},
        "Completed",
    )
    assert report_of_job(store.get("job-2"), store.home) == report
    store.create("an-endpoint", "endpoint", {}, "InService")
    with pytest.raises(ReportNotFound, match="is a endpoint, not a training job"):
        report_of_job(store.get("an-endpoint"), store.home)


def test_a_sagemaker_jobs_report_is_read_out_of_its_output_archive(tmp_path, s3):
    client, bucket = s3
    info = tarfile.TarInfo("report.html")
    client.put_object(Bucket=bucket, Key="job-3/output/output.tar.gz", Body=_tar([(info, PAGE)]))
    store = JobStore(tmp_path / "home")
    store.create("job-3", "training", {"on": "sagemaker"}, "Completed")
    output = f"s3://{bucket}/job-3/output/output.tar.gz"
    store.update("job-3", kind="training", artifacts={"output": output}, ended=True)
    found = report_of_job(store.get("job-3"), store.home)
    assert found == store.home / "reports" / "job-3" / "report.html"
    assert found.read_bytes() == PAGE


def test_only_a_regular_report_file_is_taken_from_an_archive(tmp_path):
    link = tarfile.TarInfo("report.html")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    cases = {
        "link.tar.gz": (_tar([(link, b"")]), "is not a report file"),
        "none.tar.gz": (_tar([(tarfile.TarInfo("metrics.json"), b"{}")]), "holds no report.html"),
        "junk.tar.gz": (b"not a tar at all" * 10, "not a readable output.tar.gz"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ReportNotFound, match=message):
            extract_report(str(tmp_path / name), tmp_path / "out" / name / "report.html")
    assert not (tmp_path / "out").exists()
    dotted = tarfile.TarInfo("./report.html")  # tar -C data . packs it this way
    (tmp_path / "dotted.tar.gz").write_bytes(_tar([(dotted, PAGE)]))
    extracted = extract_report(str(tmp_path / "dotted.tar.gz"), tmp_path / "r" / "report.html")
    assert extracted.read_bytes() == PAGE
