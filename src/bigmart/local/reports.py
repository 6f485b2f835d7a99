"""Where a training job's report is, for ``bigmart report``.

``train`` writes ``report.html`` into the job's ``output/data``, which is packed (locally
and on SageMaker) into ``output.tar.gz``. A local job's folder still holds it; a job run
on SageMaker has it only inside its ``output.tar.gz`` in S3, from which the one file is
read (streamed, bounded, never a tar extraction: ``model.tar_stream`` walks the headers)
into the state folder.
"""

from __future__ import annotations

from pathlib import Path

from bigmart.errors import UserError
from bigmart.files import replacing
from bigmart.local import storage
from bigmart.local.jobs import JobRecord
from bigmart.local.training import job_folder
from bigmart.model.artifact import megabytes
from bigmart.model.tar_stream import TarStream, TarStreamError, decompressed
from bigmart.report import HTML_FILE

#: A report is a few hundred KB; anything past this in output.tar.gz is not ours.
MAX_REPORT_BYTES = 64 << 20
#: Tar headers read before an output.tar.gz is refused. ``train`` writes three files into
#: output/data (report.html, report.json, metrics.json), packed with a "." entry and maybe a
#: pax header each: a handful of headers. 1,000 leaves room for what else a job may leave
#: there, yet refuses a chain of pax headers or 300k empty members after 1,000 headers
#: (tarfile kept every member in memory, or recursed until RecursionError).
MAX_REPORT_HEADERS = 1000
#: Bytes of other members passed over before the report is given up on: a gzip bomb placed
#: before it would otherwise cost decompression time in proportion to what it claims.
MAX_SKIPPED_BYTES = 1 << 30
_MEMBERS = (HTML_FILE, f"./{HTML_FILE}")
_KIND = "output.tar.gz"
_HOLDS = f"an output.tar.gz holds a few files ({HTML_FILE}, report.json, metrics.json)"


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
    ``destination``; only that regular file is read, at most ``MAX_REPORT_BYTES``, after at
    most ``MAX_REPORT_HEADERS`` tar headers (walked by ``tar_stream``, not ``tarfile``)."""
    with storage.open_read(archive) as raw:
        try:
            with decompressed(raw, label=archive, kind=_KIND) as stream:
                tar = TarStream(
                    stream, label=archive, kind=_KIND, max_headers=MAX_REPORT_HEADERS, holds=_HOLDS
                )
                skipped = 0
                for member in tar:
                    if member.name not in _MEMBERS:
                        skipped += member.size
                        if skipped > MAX_SKIPPED_BYTES:
                            raise ReportNotFound(
                                f"{member.where} ends past the first "
                                f"{megabytes(MAX_SKIPPED_BYTES)} without a {HTML_FILE}"
                            )
                        continue  # its data is skipped, in bounded pieces
                    if not member.is_regular:
                        raise ReportNotFound(
                            f"{member.where} is not a report file (not a regular file)"
                        )
                    if member.size > MAX_REPORT_BYTES:
                        raise ReportNotFound(
                            f"{member.where} is not a report file ({megabytes(member.size)}, "
                            f"over the {megabytes(MAX_REPORT_BYTES)} limit)"
                        )
                    with replacing(destination) as handle:
                        for chunk in tar.chunks(member):
                            handle.write(chunk)
                    return destination
        except TarStreamError as error:
            raise ReportNotFound(str(error)) from None
    raise ReportNotFound(f"{archive} holds no {HTML_FILE} (a job trained before the report?)")
