"""The model artifact: a folder of data files, never code.

::

    model.onnx        the forest (ONNX, run by ONNX Runtime)
    featurizer.json   the featurizer's fitted state
    baseline.json     the training data's profile, for drift reports (optional: models
                      from before it have none, and serving never reads it)
    metadata.json     hyper-parameters, metrics, row counts, library versions, and the
                      sha256 of each file above (written last: no metadata, no model)

Reading checks the format and every checksum before anything is used, so a truncated or
tampered file is refused with a message naming it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bigmart.errors import EXIT_USAGE, BigmartError
from bigmart.files import replacing

FORMAT = "bigmart-model/1"
ONNX_FILE = "model.onnx"
FEATURIZER_FILE = "featurizer.json"
METADATA_FILE = "metadata.json"
BASELINE_FILE = "baseline.json"
#: The files every model has, each checksummed in metadata.json.
PAYLOAD_FILES = (ONNX_FILE, FEATURIZER_FILE)
#: Files a model may have: when metadata.json lists one, it is checksummed like the others.
OPTIONAL_FILES = (BASELINE_FILE,)

#: The most each file of a model may weigh, in a folder written by ``write_model`` and in an
#: archive read by ``archive.unpack`` (so a crafted archive cannot fill the disk). The forest's
#: ONNX is ~1.3 MB at the default hyper-parameters and ~0.41 MB per fully grown tree on
#: Big Mart's 8,523 rows, so 512 MiB holds some 1,200 unpruned trees, more than any forest
#: worth serving; training refuses to write a bigger one. The JSON files are kilobytes;
#: 16 MiB leaves room for a long list of training files.
MEMBER_LIMITS: dict[str, int] = {
    ONNX_FILE: 512 << 20,
    FEATURIZER_FILE: 16 << 20,
    METADATA_FILE: 16 << 20,
    BASELINE_FILE: 16 << 20,
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
    baseline: dict[str, Any] | None = None  # None: a model from before baseline.json


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
    if artifact.baseline is not None:
        payloads[BASELINE_FILE] = _json_bytes(artifact.baseline)
    metadata = dict(artifact.metadata)
    metadata["format"] = FORMAT
    metadata["files"] = {name: _sha256(data) for name, data in payloads.items()}
    payloads[METADATA_FILE] = _json_bytes(metadata)
    for name, data in payloads.items():
        if len(data) > MEMBER_LIMITS[name]:
            raise ArtifactError(
                f"{name} would be {megabytes(len(data))}, over the "
                f"{megabytes(MEMBER_LIMITS[name])} a model may hold"
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
    if (
        not isinstance(checksums, dict)
        or not set(PAYLOAD_FILES) <= set(checksums)
        or not set(checksums) <= {*PAYLOAD_FILES, *OPTIONAL_FILES}
    ):
        raise ArtifactError(
            f"{folder / METADATA_FILE}: 'files' must list {PAYLOAD_FILES}, "
            f"and may list {OPTIONAL_FILES}"
        )
    contents: dict[str, bytes] = {}
    for name in [*PAYLOAD_FILES, *(n for n in OPTIONAL_FILES if n in checksums)]:
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
    documents = {
        name: _parse_json(folder / name, contents[name])
        for name in (FEATURIZER_FILE, BASELINE_FILE)
        if name in contents
    }
    return ModelArtifact(
        onnx=contents[ONNX_FILE],
        featurizer=documents[FEATURIZER_FILE],
        metadata=metadata,
        baseline=documents.get(BASELINE_FILE),
    )


def rewrite_model(source: str | os.PathLike[str], destination: str | os.PathLike[str]) -> None:
    """Read and verify the model folder ``source`` and write it anew into ``destination``
    with ``write_model`` (JSON re-encoded, checksums recomputed, metadata last): not a byte
    copy, so only what ``read_model`` accepted lands there."""
    write_model(read_model(source), destination)


def megabytes(size: int) -> str:
    """A size as a limit message reads it: bytes, MiB or GiB."""
    if size >= 1 << 30:
        return f"{size / (1 << 30):.1f} GiB"
    if size >= 1 << 20:
        return f"{size / (1 << 20):.1f} MiB"
    return f"{size:,} bytes"


def _write_atomically(path: Path, data: bytes) -> None:
    with replacing(path, durable=True) as handle:
        handle.write(data)


def _read_bounded(path: Path, limit: int) -> bytes:
    """The file's bytes, refused past ``limit`` without reading more than ``limit + 1``."""
    with open(path, "rb") as handle:
        # fstat sizes the buffer (a read of limit + 1 would reserve the whole limit).
        data = handle.read(min(os.fstat(handle.fileno()).st_size, limit) + 1)
    if len(data) > limit:
        raise ArtifactError(f"{path}: over the {megabytes(limit)} limit for {path.name}")
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


def _parse_json(path: Path, data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError as error:
        raise ArtifactError(f"{path}: not valid JSON ({error})") from None


def _json_bytes(document: Any) -> bytes:
    # NaN and Infinity are not JSON: refuse them here rather than write a file that
    # strict parsers cannot read.
    return (json.dumps(document, indent=1, sort_keys=True, allow_nan=False) + "\n").encode()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
