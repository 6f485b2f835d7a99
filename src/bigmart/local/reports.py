"""Where a training job's report is, for ``bigmart report``.

``train`` writes ``report.html`` into the job's ``output/data``, which is packed (locally
and on SageMaker) into ``output.tar.gz``. A local job's folder still holds it; a job run
on SageMaker has it only inside its ``output.tar.gz`` in S3, from which the one file is
read (streamed, bounded, never a tar extraction) into the state folder.
"""

from __future__ import annotations

import tarfile
import zlib
from pathlib import Path

from bigmart.errors import UserError
from bigmart.files import replacing
from bigmart.local import storage
from bigmart.local.jobs import JobRecord
from bigmart.local.training import job_folder
from bigmart.report import HTML_FILE

#: A report is a few hundred KB; anything past this in output.tar.gz is not ours.
MAX_REPORT_BYTES = 64 << 20
_MEMBERS = (HTML_FILE, f"./{HTML_FILE}")


class ReportNotFound(UserError, LookupError):
    """No training report where the user pointed; the message says where it looked."""


def report_of_job(record: JobRecord, home: Path) -> Path:
    """A training job's report: in its local job folder, else read out of its
    ``output.tar.gz`` (local or S3) into ``home/reports/<job>/``."""
    if record.kind != "training":
        raise ReportNotFound(f"{record.name!r} is a {record.kind}, not a training job")
    local = local_report(record, home)
    if local is not None:
        return local
    archive = record.artifacts.get("output")
    if not archive:
        raise ReportNotFound(
            f"training job {record.name!r} ({record.status}) has no output.tar.gz, so no report"
        )
    return extract_report(archive, home / "reports" / record.name / HTML_FILE)


def local_report(record: JobRecord, home: Path) -> Path | None:
    """The report in a local training job's folder, if it is there."""
    output = record.parameters.get("OutputDataConfig", {}).get("S3OutputPath")
    if record.kind != "training" or record.parameters.get("on") == "sagemaker" or not output:
        return None
    path = job_folder(home, record.name, output) / "output" / "data" / HTML_FILE
    return path if path.is_file() else None


def report_of_path(location: Path) -> Path:
    """The report for a path: a report itself, a job folder, its ``output`` folder, a
    model folder (``<job>/model``) or a model archive (``<job>/output/model.tar.gz``):
    the ``output/data/report.html`` of the job they belong to."""
    if location.is_file() and location.suffix == ".html":
        return location
    folder = location if location.is_dir() else location.parent
    candidates = [
        folder / HTML_FILE,
        folder / "data" / HTML_FILE,  # <job>/output, where model.tar.gz sits
        folder / "output" / "data" / HTML_FILE,  # the job folder
        folder.parent / "output" / "data" / HTML_FILE,  # <job>/model
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    hint = ""
    packed = folder / "output.tar.gz"
    if packed.is_file():
        hint = f"; it may be inside {packed}: tar -xzf {packed} {HTML_FILE}"
    looked = ", ".join(str(c) for c in dict.fromkeys(candidates))
    raise ReportNotFound(f"no training report for {location}: looked for {looked}{hint}")


def extract_report(archive: str, destination: Path) -> Path:
    """Copy ``report.html`` out of an ``output.tar.gz`` (a path or an S3 URI) to
    ``destination``; only that regular file is read, at most ``MAX_REPORT_BYTES``."""
    data = _read_report(archive)
    with replacing(destination) as handle:
        handle.write(data)
    return destination


def _read_report(archive: str) -> bytes:
    with storage.open_read(archive) as stream:
        try:
            with tarfile.open(fileobj=stream, mode="r|gz") as tar:
                for member in tar:
                    if member.name not in _MEMBERS:
                        continue
                    if not member.isreg() or member.size > MAX_REPORT_BYTES:
                        raise ReportNotFound(f"{archive}: {member.name} is not a report file")
                    source = tar.extractfile(member)
                    assert source is not None  # a regular file
                    return source.read(MAX_REPORT_BYTES)
        except (tarfile.TarError, EOFError, zlib.error) as error:
            raise ReportNotFound(f"{archive}: not a readable output.tar.gz ({error})") from None
    raise ReportNotFound(f"{archive} holds no {HTML_FILE} (a job trained before the report?)")
