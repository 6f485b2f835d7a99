"""A model wherever it is: a folder or a ``model.tar.gz``, on this machine or in S3.

An S3 model is an archive (as SageMaker's ModelDataUrl): it is streamed into a temporary
file, refused past ``MAX_ARCHIVE_BYTES`` (no object can fill the disk), and read by the
product's own tar reader (``archive.opened_model``), so errors name the S3 URI.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bigmart.local import storage
from bigmart.model.archive import MAX_ARCHIVE_BYTES, opened_model
from bigmart.model.artifact import ArtifactError


@contextmanager
def opened_model_at(location: str) -> Iterator[Path]:
    """A model folder for ``location`` (removed after, if it had to be unpacked)."""
    if not storage.is_s3(location):
        with opened_model(location) as folder:
            yield folder
        return
    with tempfile.TemporaryDirectory(prefix="bigmart-model-") as scratch:
        archive = Path(scratch) / "model.tar.gz"
        fetched = 0
        with storage.open_read(location) as source, open(archive, "wb") as target:
            for chunk in iter(lambda: source.read(1 << 20), b""):
                fetched += len(chunk)
                if fetched > MAX_ARCHIVE_BYTES:  # never fill the disk with a huge object
                    raise ArtifactError(
                        f"{location}: over {MAX_ARCHIVE_BYTES >> 20} MiB, larger than "
                        "any model archive can be"
                    )
                target.write(chunk)
        with opened_model(archive, label=location) as folder:
            yield folder
