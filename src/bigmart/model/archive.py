"""The model archive: ``model.tar.gz``, packed as SageMaker packs ``/opt/ml/model`` and read
by our own tar reader, which can write nothing but the model's known files.

``tarfile.extractall`` is not used: its safety filter is missing on 3.11.2 and bypassable
below 3.11.13 (CVE-2025-4517), so the headers are walked by ``tar_stream`` and every member
checked against ``artifact.MEMBER_LIMITS`` before a byte of it is written.
"""

from __future__ import annotations

import os
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bigmart.files import replacing
from bigmart.model.artifact import (
    BASELINE_FILE,
    FEATURIZER_FILE,
    MEMBER_LIMITS,
    METADATA_FILE,
    ONNX_FILE,
    PAYLOAD_FILES,
    ArtifactError,
    megabytes,
)
from bigmart.model.tar_stream import TarMember, TarStream, TarStreamError, decompressed

#: The largest archive worth fetching (e.g. from S3): its members at their limits, plus
#: tar headers and padding; compression only makes a real one smaller.
MAX_ARCHIVE_BYTES = sum(MEMBER_LIMITS.values()) + (1 << 20)
#: Tar headers read before an archive is refused: four files, a "." entry, a pax header
#: each, and room to spare; a million tiny members cost nothing to refuse.
MAX_HEADERS = 16
_KIND = "model archive"
_HOLDS = (
    f"a model archive holds only {ONNX_FILE}, {FEATURIZER_FILE}, {METADATA_FILE} "
    f"(and optionally {BASELINE_FILE}) as regular files"
)
#: The members every archive must have (baseline.json came later: older models lack it).
_REQUIRED = (*PAYLOAD_FILES, METADATA_FILE)
_KINDS = {
    tarfile.SYMTYPE: "a symlink",
    tarfile.LNKTYPE: "a hard link",
    tarfile.DIRTYPE: "a directory",
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a FIFO",
}


def pack(model_dir: str | os.PathLike[str], archive: str | os.PathLike[str]) -> Path:
    """Tar and gzip a folder's files flat, as SageMaker packs ``/opt/ml/model``."""
    folder, destination = Path(model_dir), Path(archive)
    destination.parent.mkdir(parents=True, exist_ok=True)
    with (
        replacing(destination, durable=True) as handle,
        tarfile.open(fileobj=handle, mode="w:gz") as tar,
    ):
        for path in sorted(folder.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    return destination


@contextmanager
def opened_model(location: str | os.PathLike[str], *, label: str | None = None) -> Iterator[Path]:
    """A model folder for a folder or a ``model.tar.gz``; an archive is unpacked to a
    temporary folder (only its known files, see ``unpack``) and removed after.
    ``label`` names the archive in errors (e.g. the S3 URI a local copy came from)."""
    path = Path(location)
    if path.is_dir():
        yield path
        return
    if not path.is_file():  # named as given: Path() would turn s3://b/k into s3:/b/k
        raise ArtifactError(f"model {os.fspath(location)!r} is neither a folder nor a file")
    with tempfile.TemporaryDirectory(prefix="bigmart-model-") as scratch:
        unpack(path, scratch, label=label)
        yield Path(scratch)


def unpack(
    archive: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    *,
    label: str | None = None,
) -> None:
    """Extract a model archive's files into the (empty) folder ``destination``.

    The archive is read by ``tar_stream``, not by ``tarfile.extractall``: whatever the
    Python version, nothing but ``model.onnx``, ``featurizer.json``, ``metadata.json`` and
    ``baseline.json`` can be written, each a regular file within its size limit
    (``MEMBER_LIMITS``), created exclusively and never through a link. A ``.`` directory
    entry and ``./name`` spellings are accepted, since ``tar -czf model.tar.gz -C model .``
    packs that way. Anything else (links, directories, devices, FIFOs, other names, a name
    twice, more than ``MAX_HEADERS`` headers) is refused with one line naming the member.
    """
    label = label or os.fspath(archive)
    try:
        raw = open(archive, "rb")  # noqa: SIM115 (closed below, whatever decompresses it)
    except OSError as error:
        raise ArtifactError(f"{label}: cannot read ({error.strerror})") from None
    created: list[Path] = []
    try:
        with raw, decompressed(raw, label=label, kind=_KIND) as stream:
            tar = TarStream(stream, label=label, kind=_KIND, max_headers=MAX_HEADERS, holds=_HOLDS)
            _extract_members(tar, Path(destination), created)
    except BaseException as error:
        for path in created:  # a refused archive leaves nothing behind
            path.unlink(missing_ok=True)
        if isinstance(error, TarStreamError):
            raise ArtifactError(str(error)) from None
        raise


def _extract_members(tar: TarStream, destination: Path, created: list[Path]) -> None:
    """The members of ``tar`` into ``destination``, each file appended to ``created`` as
    soon as it exists; a write that fails raises ``OSError`` naming the file (a full disk
    is not the archive's fault)."""
    written: set[str] = set()
    seen_dot = False
    for member in tar:
        name, size, where = member.name, member.size, member.where
        kind = _refused_kind(member)
        if kind is not None:
            if member.is_dir and name in (".", "./") and not seen_dot and size == 0:
                seen_dot = True  # tar -C model . packs the folder itself as "./"
                continue
            raise ArtifactError(f"{where} is {kind}; {_HOLDS}")
        base = name[2:] if name.startswith("./") else name
        if base not in MEMBER_LIMITS:
            nested = "/" in base and base.rsplit("/", 1)[1] in MEMBER_LIMITS
            hint = " (pack the files flat: tar -czf model.tar.gz -C model .)" if nested else ""
            raise ArtifactError(f"{where} is not one of the model's files{hint}; {_HOLDS}")
        if base in written:
            raise ArtifactError(f"{where} appears twice; {_HOLDS}")
        limit = MEMBER_LIMITS[base]
        if size > limit:
            raise ArtifactError(
                f"{where} is {megabytes(size)}, over the {megabytes(limit)} limit for {base}"
            )
        _copy_member(tar, member, destination / base, created)
        written.add(base)
    if tar.headers == 0:
        raise ArtifactError(f"{tar.label}: empty archive; {_HOLDS}")
    missing = [name for name in _REQUIRED if name not in written]
    if missing:
        raise ArtifactError(f"{tar.label}: holds no {', '.join(missing)}; {_HOLDS}")


def _refused_kind(member: TarMember) -> str | None:
    """What the member is, if it is not a regular file; None for a regular file."""
    if member.is_regular:
        return None
    return _KINDS.get(member.type, f"of tar type {member.type!r}, not a regular file")


def _copy_member(tar: TarStream, member: TarMember, target: Path, created: list[Path]) -> None:
    """Copy the member's data (its size already checked against the limit) into a new file
    that must not exist and is never reached through a link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(target, flags, 0o644)
    except OSError as error:
        raise OSError(error.errno, error.strerror, os.fspath(target)) from None
    created.append(target)
    with open(descriptor, "wb") as out:
        for chunk in tar.chunks(member):
            try:
                out.write(chunk)
            except OSError as error:
                raise OSError(error.errno, error.strerror, os.fspath(target)) from None
