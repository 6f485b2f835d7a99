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

import hashlib
import json
import os
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = "bigmart-model/1"
ONNX_FILE = "model.onnx"
FEATURIZER_FILE = "featurizer.json"
METADATA_FILE = "metadata.json"
PAYLOAD_FILES = (ONNX_FILE, FEATURIZER_FILE)


class ArtifactError(ValueError):
    """A model folder or archive that is missing, corrupt or of another format."""


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
            data = path.read_bytes()
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
    partial = destination.with_name(destination.name + ".partial")
    with tarfile.open(partial, "w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    partial.replace(destination)
    return destination


@contextmanager
def opened_model(location: str | os.PathLike[str]) -> Iterator[Path]:
    """A model folder for a folder or a ``model.tar.gz``; an archive is unpacked to a
    temporary folder (safely: no absolute paths, links or ``..``) and removed after."""
    path = Path(location)
    if path.is_dir():
        yield path
        return
    if not path.is_file():  # named as given: Path() would turn s3://b/k into s3:/b/k
        raise ArtifactError(f"model {os.fspath(location)!r} is neither a folder nor a file")
    with tempfile.TemporaryDirectory(prefix="bigmart-model-") as scratch:
        unpack(path, scratch)
        yield Path(scratch)


def unpack(archive: str | os.PathLike[str], destination: str | os.PathLike[str]) -> None:
    """Extract a model archive, refusing members that would escape ``destination``."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(destination, filter="data")
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ArtifactError(f"{archive}: not a readable model archive ({error})") from None


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.partial")
    with open(partial, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(path)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_bytes())
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
