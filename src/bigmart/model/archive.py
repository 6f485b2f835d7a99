"""The model archive: ``model.tar.gz``, packed as SageMaker packs ``/opt/ml/model`` and read
by our own tar reader, which can write nothing but the model's known files.

``tarfile.extractall`` is not used: its safety filter is missing on 3.11.2 and bypassable
below 3.11.13 (CVE-2025-4517), so the headers are parsed here and every member checked
against ``artifact.MEMBER_LIMITS`` before a byte of it is written.
"""

from __future__ import annotations

import bz2
import gzip
import itertools
import lzma
import os
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from bigmart.clipping import clip
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

#: The largest archive worth fetching (e.g. from S3): its members at their limits, plus
#: tar headers and padding; compression only makes a real one smaller.
MAX_ARCHIVE_BYTES = sum(MEMBER_LIMITS.values()) + (1 << 20)
#: Tar headers read before an archive is refused: four files, a "." entry, a pax header
#: each, and room to spare; a million tiny members cost nothing to refuse.
MAX_HEADERS = 16
#: A pax or GNU long-name header's data: a few hundred bytes in practice.
EXTENSION_LIMIT = 64 << 10
_COPY_CHUNK = 1 << 20
_HOLDS = (
    f"a model archive holds only {ONNX_FILE}, {FEATURIZER_FILE}, {METADATA_FILE} "
    f"(and optionally {BASELINE_FILE}) as regular files"
)
#: The members every archive must have (baseline.json came later: older models lack it).
_REQUIRED = (*PAYLOAD_FILES, METADATA_FILE)
_REGULAR_TYPES = frozenset({tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE})
_EXTENSION_TYPES = frozenset(
    {tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK}
)
_KINDS = {
    tarfile.SYMTYPE: "a symlink",
    tarfile.LNKTYPE: "a hard link",
    tarfile.DIRTYPE: "a directory",
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a FIFO",
    tarfile.GNUTYPE_SPARSE: "a sparse file",
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

    The archive is read by this module, not by ``tarfile.extractall``: whatever the
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
    with raw:
        stream = _decompressed(raw, label)
        try:
            _extract_members(stream, label, Path(destination), created)
        except BaseException:
            for path in created:  # a refused archive leaves nothing behind
                path.unlink(missing_ok=True)
            raise
        finally:
            stream.close()


def _extract_members(stream: BinaryIO, label: str, destination: Path, created: list[Path]) -> None:
    """The members of the tar ``stream`` into ``destination``, each file appended to
    ``created`` as soon as it exists; errors as ``ArtifactError`` (or ``OSError`` naming
    the file for a failed write)."""
    try:
        _read_members(stream, label, destination, created)
    except (EOFError, zlib.error, lzma.LZMAError, gzip.BadGzipFile) as error:
        raise ArtifactError(
            f"{label}: not a readable model archive (corrupt or truncated: {error})"
        ) from None
    except OSError as error:
        if error.filename is not None:
            raise  # writing the destination failed (a full disk): not the archive's fault
        raise ArtifactError(
            f"{label}: not a readable model archive ({error.strerror or error})"
        ) from None


def _decompressed(raw: BinaryIO, label: str) -> BinaryIO:
    """The archive's tar stream, by the compression its first bytes announce."""
    magic = raw.read(6)
    raw.seek(0)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if magic.startswith(b"BZh"):
        return bz2.BZ2File(raw)  # type: ignore[return-value]
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(raw)  # type: ignore[return-value]
    if not magic:
        raise ArtifactError(f"{label}: empty file, not a model archive")
    return raw  # an uncompressed tar, or junk that the header checks refuse


def _read_members(stream: BinaryIO, label: str, destination: Path, created: list[Path]) -> None:
    written: set[str] = set()
    seen_dot = False
    overrides: dict[str, str] = {}  # from a pax or GNU long-name header, for the next member
    for count in itertools.count(1):
        block = _read_exact(stream, tarfile.BLOCKSIZE)
        if not block or block.count(0) == tarfile.BLOCKSIZE:
            if count == 1:
                raise ArtifactError(f"{label}: empty archive; {_HOLDS}")
            break  # end of the archive (tar ends with zero blocks; some writers omit them)
        if count > MAX_HEADERS:
            raise ArtifactError(f"{label}: more than {MAX_HEADERS} members; {_HOLDS}")
        if len(block) < tarfile.BLOCKSIZE:
            raise ArtifactError(f"{label}: not a readable model archive (truncated header)")
        try:
            member = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
        except tarfile.TarError as error:
            raise ArtifactError(
                f"{label}: not a readable model archive (member {count}: {error})"
            ) from None
        name = overrides.pop("path", member.name)
        size = _size(overrides.pop("size", None), member.size, label, name)
        overrides.clear()
        where = f"{label}: member {clip(name, 120)!r}"
        if member.type in _EXTENSION_TYPES:
            data = _read_extension(stream, size, where)
            if member.type == tarfile.XHDTYPE:
                overrides = _pax_records(data, where)
            elif member.type == tarfile.XGLTYPE:
                if {"path", "size"} & set(_pax_records(data, where)):
                    raise ArtifactError(f"{where}: a global header may not set path or size")
            elif member.type == tarfile.GNUTYPE_LONGNAME:
                overrides = {"path": data.rstrip(b"\0").decode("utf-8", "surrogateescape")}
            # GNUTYPE_LONGLINK names a link target: the link itself is refused next.
            continue
        kind = _refused_kind(member)
        if kind is not None:
            if member.isdir() and name in (".", "./") and not seen_dot and size == 0:
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
        _copy_member(stream, size, destination / base, where, created)
        written.add(base)
    missing = [name for name in _REQUIRED if name not in written]
    if missing:
        raise ArtifactError(f"{label}: holds no {', '.join(missing)}; {_HOLDS}")


def _refused_kind(member: tarfile.TarInfo) -> str | None:
    """What the member is, if it is not a regular file; None for a regular file."""
    if member.type in _REGULAR_TYPES:
        return None
    return _KINDS.get(member.type, f"of tar type {member.type!r}, not a regular file")


def _size(pax_size: str | None, header_size: int, label: str, name: str) -> int:
    if pax_size is None:
        size = header_size
    else:
        try:
            size = int(pax_size)
        except ValueError:
            size = -1
    if size < 0:
        raise ArtifactError(f"{label}: member {clip(name, 120)!r} has an invalid size")
    return size


def _read_extension(stream: BinaryIO, size: int, where: str) -> bytes:
    """A pax or GNU long-name header's data (bounded: a few KB is all they ever need)."""
    if size > EXTENSION_LIMIT:
        raise ArtifactError(
            f"{where}: an extended header of {megabytes(size)}, over the "
            f"{megabytes(EXTENSION_LIMIT)} limit"
        )
    data = _read_exact(stream, _blocks(size))
    if len(data) < _blocks(size):
        raise ArtifactError(f"{where}: the archive ends inside this member (truncated)")
    return data[:size]


def _pax_records(data: bytes, where: str) -> dict[str, str]:
    """The ``length key=value\\n`` records of a pax header."""
    records: dict[str, str] = {}
    position = 0
    while position < len(data) and data[position] != 0:
        space = data.find(b" ", position)
        try:
            length = int(data[position:space])
        except ValueError:
            length = 0
        record = data[position : position + length]
        if space < 0 or length <= space - position or not record.endswith(b"\n"):
            raise ArtifactError(f"{where}: malformed pax header")
        key, equals, value = record[space - position + 1 : -1].partition(b"=")
        if not equals:
            raise ArtifactError(f"{where}: malformed pax header")
        text_key = key.decode("utf-8", "surrogateescape")
        if text_key.startswith("GNU.sparse."):
            raise ArtifactError(f"{where} is a sparse file; {_HOLDS}")
        records[text_key] = value.decode("utf-8", "surrogateescape")
        position += length
    return records


def _copy_member(
    stream: BinaryIO, size: int, target: Path, where: str, created: list[Path]
) -> None:
    """Copy ``size`` bytes (already checked against the limit, so the read is bounded)
    into a new file that must not exist and is never reached through a link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(target, flags, 0o644)
    except OSError as error:
        raise OSError(error.errno, error.strerror, os.fspath(target)) from None
    created.append(target)
    with open(descriptor, "wb") as out:
        remaining = size
        while remaining:
            chunk = stream.read(min(remaining, _COPY_CHUNK))
            if not chunk:
                raise ArtifactError(f"{where}: the archive ends inside this member (truncated)")
            try:
                out.write(chunk)
            except OSError as error:
                raise OSError(error.errno, error.strerror, os.fspath(target)) from None
            remaining -= len(chunk)
    padding = _blocks(size) - size
    if padding and len(_read_exact(stream, padding)) < padding:
        raise ArtifactError(f"{where}: the archive ends inside this member (truncated)")


def _read_exact(stream: BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes: fewer only at the end of the stream."""
    parts = []
    remaining = size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


def _blocks(size: int) -> int:
    return -(-size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
