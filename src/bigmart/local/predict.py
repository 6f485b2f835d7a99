"""``bigmart predict``: score a CSV file in-process, streaming, with no server.

It reads in chunks, runs the same Predictor and formatting as the endpoint (so the two
agree byte for byte), and writes to a unique temporary file beside the output that
replaces it only when every row is scored: a failure leaves no half-written output, and
two runs writing the same output do not mix their rows. An ``s3://`` input is streamed
and an ``s3://`` output uploaded whole at the end (``storage``), as a transform does.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from bigmart.codecs import format_predictions
from bigmart.data.reading import iter_csv_chunks
from bigmart.files import replacing
from bigmart.local import storage
from bigmart.local.model_location import opened_model_at
from bigmart.model.predictor import Predictor


def predict_csv(
    model: str | os.PathLike[str],
    input_csv: str | os.PathLike[str],
    output_csv: str | os.PathLike[str],
    *,
    chunk_rows: int = 50_000,
) -> int:
    """Score every row of ``input_csv`` (header required) into ``output_csv``, one
    prediction per line in input order; return the number of rows. Each may be an
    ``s3://`` URI: the model archive is fetched (bounded), the input streamed, the output
    uploaded whole when every row is scored."""
    with opened_model_at(os.fspath(model)) as model_dir:
        predictor = Predictor.load(model_dir)
    rows = 0
    with _reading(str(input_csv)) as source, _writing(str(output_csv)) as out:
        for features, _ in iter_csv_chunks(
            source, require_target=False, chunk_rows=chunk_rows, source=str(input_csv)
        ):
            predictions = format_predictions(predictor.predict(features))
            if predictions:
                out.write("\n".join(predictions))
                out.write("\n")
            rows += len(predictions)
    return rows


@contextmanager
def _reading(location: str) -> Iterator[Path | IO[bytes]]:
    """A local file by its path (so a FIFO reads too), an S3 object as a stream."""
    if not storage.is_s3(location):
        yield Path(location)
        return
    with storage.open_read(location) as stream:
        yield stream


@contextmanager
def _writing(location: str) -> Iterator[IO[str]]:
    """Text that appears at ``location`` only once the block completes."""
    if not storage.is_s3(location):
        with replacing(location, "w", encoding="utf-8", newline="") as out:
            yield out
        return
    with storage.open_write(location) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        yield text
        text.flush()
        text.detach()  # the upload still needs the file open
