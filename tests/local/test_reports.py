"""Finding a training job's report: its job folder, a model beside it, or its output.tar.gz."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from bigmart.local.jobs import JobStore
from bigmart.local.reports import (
    MAX_REPORT_HEADERS,
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


# -- hostile or broken output.tar.gz: one line naming the archive, never a traceback ---------


def _refused(archive: Path, destination: Path) -> str:
    """``extract_report`` on ``archive``: the one-line refusal, after checking nothing was
    written."""
    with pytest.raises(ReportNotFound) as caught:
        extract_report(str(archive), destination)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(archive)), message
    assert not destination.exists()
    return message


def _header(name: str, kind: bytes = tarfile.REGTYPE, size: int = 0) -> bytes:
    info = tarfile.TarInfo(name)
    info.type, info.size = kind, size
    return info.tobuf(tarfile.USTAR_FORMAT)


def _padded(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % tarfile.BLOCKSIZE)


def test_a_chain_of_pax_global_headers_is_refused_at_the_header_cap(tmp_path):
    # tarfile reads one global header per recursion: a few thousand raised RecursionError.
    record = b"20 comment=abcdefgh\n"
    member = _header("pax_global_header", tarfile.XGLTYPE, len(record)) + _padded(record)
    archive = tmp_path / "pax.tar.gz"
    archive.write_bytes(gzip.compress(member * 5000 + _header("report.html", size=len(PAGE))))
    message = _refused(archive, tmp_path / "out" / "report.html")
    assert f"more than {MAX_REPORT_HEADERS:,} members" in message


def test_many_members_are_refused_at_the_header_cap_not_walked_to_the_end(tmp_path):
    # tarfile kept every member it walked past (300k empty ones: 150 MB, 20 s).
    many = _header("x") * (3 * MAX_REPORT_HEADERS)
    archive = tmp_path / "many.tar.gz"
    archive.write_bytes(
        gzip.compress(many + _header("report.html", size=len(PAGE)) + _padded(PAGE))
    )
    message = _refused(archive, tmp_path / "out" / "report.html")
    assert f"more than {MAX_REPORT_HEADERS:,} members" in message
    assert "report.html, report.json, metrics.json" in message  # what it should hold


def test_a_pax_header_claiming_a_huge_size_is_refused_unread(tmp_path):
    # tarfile read a pax header's claimed size whole into memory before looking at it.
    size = 16 << 20
    pax = _header("PaxHeader/report.html", tarfile.XHDTYPE, size) + b"\0" * size
    report = _header("report.html", size=len(PAGE)) + _padded(PAGE)
    archive = tmp_path / "pax-size.tar.gz"
    archive.write_bytes(gzip.compress(pax + report))
    message = _refused(archive, tmp_path / "out" / "report.html")
    assert "member 'PaxHeader/report.html': an extended header of 16.0 MiB, over the" in message


def test_members_claiming_more_than_a_gibibyte_before_the_report_are_refused_unread(tmp_path):
    # Only the header is there: reading on would say "truncated" after decompressing 2 GiB.
    archive = tmp_path / "bomb.tar.gz"
    archive.write_bytes(gzip.compress(_header("checkpoint.bin", size=2 << 30)))
    message = _refused(archive, tmp_path / "out" / "report.html")
    assert message == (
        f"{archive}: member 'checkpoint.bin' ends past the first 1.0 GiB without a report.html"
    )


def test_a_truncated_output_archive_is_refused_in_one_line_wherever_it_is_cut(tmp_path):
    # Cut inside the gzip header, tarfile raised TypeError (ord() of an empty read).
    padding = tarfile.TarInfo("metrics.json")
    whole = _tar([(padding, b"{}" * 300), (tarfile.TarInfo("report.html"), PAGE)])
    destination = tmp_path / "out" / "report.html"
    taken = 0
    for cut in range(len(whole)):
        archive = tmp_path / f"cut-{cut}.tar.gz"
        archive.write_bytes(whole[:cut])
        try:
            extracted = extract_report(str(archive), destination)
        except ReportNotFound as error:
            message = str(error)
            assert "\n" not in message and message.startswith(str(archive)), message
            assert "holds no report.html" not in message, message  # truncated, not empty
            assert not destination.exists()
        else:  # cut after the report (in the end blocks or gzip's trailer)
            assert extracted.read_bytes() == PAGE
            extracted.unlink()
            taken += 1
    assert taken < 40
    message = _refused(tmp_path / "cut-3.tar.gz", destination)
    assert "not a readable output.tar.gz (corrupt or truncated" in message


def test_the_report_is_found_past_large_members_and_long_names(tmp_path):
    big = tarfile.TarInfo("model-checkpoint.bin")  # skipped in bounded pieces
    long_name = tarfile.TarInfo("notes/" + "n" * 200 + ".txt")  # a pax or GNU long name
    cases = {
        "pax": tarfile.PAX_FORMAT,
        "gnu": tarfile.GNU_FORMAT,
    }
    for label, tar_format in cases.items():
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz", format=tar_format) as tar:
            for info, data in [
                (big, bytes(3 << 20)),
                (long_name, b"n"),
                (tarfile.TarInfo("./report.html"), PAGE),
            ]:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        (tmp_path / f"{label}.tar.gz").write_bytes(buffer.getvalue())
        extracted = extract_report(
            str(tmp_path / f"{label}.tar.gz"), tmp_path / label / "report.html"
        )
        assert extracted.read_bytes() == PAGE
    oversized = tarfile.TarInfo("report.html")
    (tmp_path / "big.tar.gz").write_bytes(_tar([(oversized, bytes(65 << 20))]))
    message = _refused(tmp_path / "big.tar.gz", tmp_path / "out" / "report.html")
    assert (
        "member 'report.html' is not a report file (65.0 MiB, over the 64.0 MiB limit)" in message
    )
