"""The model artifact: a folder of data files, never code.

::

    model.onnx        the forest (ONNX, run by ONNX Runtime)
    featurizer.json   the featurizer's fitted state
    metadata.json     hyper-parameters, metrics, row counts, library versions, and the
                      sha256 of each file above (written last: no metadata, no model)

Reading checks the format and every checksum before anything is used, so a truncated or
tampered file is refused with a message naming it.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import itertools
import json
import lzma
import os
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from bigmart.errors import EXIT_USAGE, BigmartError
from bigmart.files import replacing

FORMAT = "bigmart-model/1"
ONNX_FILE = "model.onnx"
FEATURIZER_FILE = "featurizer.json"
METADATA_FILE = "metadata.json"
PAYLOAD_FILES = (ONNX_FILE, FEATURIZER_FILE)

#: The most each file of a model may weigh, in a folder written by ``write_model`` and in an
#: archive read by ``unpack`` (so a crafted archive cannot fill the disk). The forest's
#: ONNX is ~1.3 MB at the default hyper-parameters and ~0.41 MB per fully grown tree on
#: Big Mart's 8,523 rows, so 512 MiB holds some 1,200 unpruned trees, more than any forest
#: worth serving; training refuses to write a bigger one. The JSON files are kilobytes;
#: 16 MiB leaves room for a long list of training files.
MEMBER_LIMITS: dict[str, int] = {
    ONNX_FILE: 512 << 20,
    FEATURIZER_FILE: 16 << 20,
    METADATA_FILE: 16 << 20,
}
#: The largest archive worth fetching (e.g. from S3): its members at their limits, plus
#: tar headers and padding; compression only makes a real one smaller.
MAX_ARCHIVE_BYTES = sum(MEMBER_LIMITS.values()) + (1 << 20)
#: Tar headers read before an archive is refused: three files, a "." entry, a pax header
#: each, and room to spare; a million tiny members cost nothing to refuse.
MAX_HEADERS = 16
#: A pax or GNU long-name header's data: a few hundred bytes in practice.
EXTENSION_LIMIT = 64 << 10
_COPY_CHUNK = 1 << 20
_HOLDS = (
    f"a model archive holds only {ONNX_FILE}, {FEATURIZER_FILE}, {METADATA_FILE} as regular files"
)
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


class ArtifactError(BigmartError, ValueError):
    """A model folder or archive that is missing, corrupt or of another format.

    Refused input to a command (exit 2); to a server whose own model it is, a 500.
    """

    status_code = 500
    exit_code = EXIT_USAGE


@dataclass
class ModelArtifact:
    """The files of a model, in memory."""

    onnx: bytes
    featurizer: dict[str, Any]
    metadata: dict[str, Any]


def write_model(artifact: ModelArtifact, model_dir: str | os.PathLike[str]) -> None:
    """Write the artifact into ``model_dir`` so that it is never seen half-written.

    Each file is written under a temporary name and renamed; metadata.json, which holds
    the checksums, goes last, so a reader sees either no model or a whole one.
    """
    target = Path(model_dir)
    target.mkdir(parents=True, exist_ok=True)
    payloads = {
        ONNX_FILE: artifact.onnx,
        FEATURIZER_FILE: _json_bytes(artifact.featurizer),
    }
    metadata = dict(artifact.metadata)
    metadata["format"] = FORMAT
    metadata["files"] = {name: _sha256(data) for name, data in payloads.items()}
    payloads[METADATA_FILE] = _json_bytes(metadata)
    for name, data in payloads.items():
        if len(data) > MEMBER_LIMITS[name]:
            raise ArtifactError(
                f"{name} would be {_megabytes(len(data))}, over the "
                f"{_megabytes(MEMBER_LIMITS[name])} a model may hold"
                + (
                    ": train a smaller forest (fewer n_estimators, a max_depth, a larger "
                    "min_samples_leaf)"
                    if name == ONNX_FILE
                    else ""
                )
            )
    written = []
    try:
        for name, data in payloads.items():
            _write_atomically(target / name, data)
            written.append(target / name)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise


def read_model(model_dir: str | os.PathLike[str]) -> ModelArtifact:
    """Read and verify a model folder; ``ArtifactError`` names what is wrong."""
    folder = Path(model_dir)
    if not folder.is_dir():
        raise ArtifactError(f"model folder {os.fspath(model_dir)!r} does not exist")
    metadata = _read_json(folder / METADATA_FILE)
    if metadata.get("format") != FORMAT:
        raise ArtifactError(
            f"{folder / METADATA_FILE}: format is {metadata.get('format')!r}, expected {FORMAT!r}"
        )
    checksums = metadata.get("files")
    if not isinstance(checksums, dict) or set(checksums) != set(PAYLOAD_FILES):
        raise ArtifactError(f"{folder / METADATA_FILE}: 'files' must list {PAYLOAD_FILES}")
    contents: dict[str, bytes] = {}
    for name in PAYLOAD_FILES:
        path = folder / name
        try:
            data = _read_bounded(path, MEMBER_LIMITS[name])
        except OSError as error:
            raise ArtifactError(f"{path}: cannot read ({error.strerror})") from None
        if _sha256(data) != checksums[name]:
            raise ArtifactError(
                f"{path}: sha256 does not match metadata.json (file corrupt or replaced)"
            )
        contents[name] = data
    try:
        featurizer = json.loads(contents[FEATURIZER_FILE])
    except ValueError as error:
        raise ArtifactError(f"{folder / FEATURIZER_FILE}: not valid JSON ({error})") from None
    return ModelArtifact(onnx=contents[ONNX_FILE], featurizer=featurizer, metadata=metadata)


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
    temporary folder (only its three known files, see ``unpack``) and removed after.
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
    """Extract a model archive's three files into the (empty) folder ``destination``.

    The archive is read by this module, not by ``tarfile.extractall``: whatever the
    Python version, nothing but ``model.onnx``, ``featurizer.json`` and ``metadata.json``
    can be written, each a regular file within its size limit (``MEMBER_LIMITS``), created
    exclusively and never through a link. A ``.`` directory entry and ``./name`` spellings
    are accepted, since ``tar -czf model.tar.gz -C model .`` packs that way. Anything else
    (links, directories, devices, FIFOs, other names, a name twice, more than
    ``MAX_HEADERS`` headers) is refused with one line naming the member.
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
        where = f"{label}: member {_clip(name)!r}"
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
                f"{where} is {_megabytes(size)}, over the {_megabytes(limit)} limit for {base}"
            )
        _copy_member(stream, size, destination / base, where, created)
        written.add(base)
    missing = [name for name in MEMBER_LIMITS if name not in written]
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
        raise ArtifactError(f"{label}: member {_clip(name)!r} has an invalid size")
    return size


def _read_extension(stream: BinaryIO, size: int, where: str) -> bytes:
    """A pax or GNU long-name header's data (bounded: a few KB is all they ever need)."""
    if size > EXTENSION_LIMIT:
        raise ArtifactError(
            f"{where}: an extended header of {_megabytes(size)}, over the "
            f"{_megabytes(EXTENSION_LIMIT)} limit"
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


def _megabytes(size: int) -> str:
    if size >= 1 << 30:
        return f"{size / (1 << 30):.1f} GiB"
    if size >= 1 << 20:
        return f"{size / (1 << 20):.1f} MiB"
    return f"{size:,} bytes"


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _write_atomically(path: Path, data: bytes) -> None:
    with replacing(path, durable=True) as handle:
        handle.write(data)


def _read_bounded(path: Path, limit: int) -> bytes:
    """The file's bytes, refused past ``limit`` without reading more than ``limit + 1``."""
    with open(path, "rb") as handle:
        # fstat sizes the buffer (a read of limit + 1 would reserve the whole limit).
        data = handle.read(min(os.fstat(handle.fileno()).st_size, limit) + 1)
    if len(data) > limit:
        raise ArtifactError(f"{path}: over the {_megabytes(limit)} limit for {path.name}")
    return data


def _read_json(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(_read_bounded(path, MEMBER_LIMITS[path.name]))
    except FileNotFoundError:
        raise ArtifactError(f"{path}: missing (not a bigmart model folder?)") from None
    except OSError as error:
        raise ArtifactError(f"{path}: cannot read ({error.strerror})") from None
    except ValueError as error:
        raise ArtifactError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(document, dict):
        raise ArtifactError(f"{path}: expected a JSON object")
    return document


def _json_bytes(document: Any) -> bytes:
    # NaN and Infinity are not JSON: refuse them here rather than write a file that
    # strict parsers cannot read.
    return (json.dumps(document, indent=1, sort_keys=True, allow_nan=False) + "\n").encode()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def copy_model(source: str | os.PathLike[str], destination: str | os.PathLike[str]) -> None:
    """Copy a verified model folder's files into ``destination`` (metadata last)."""
    write_model(read_model(source), destination)
