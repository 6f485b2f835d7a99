"""``bigmart predict``: score a CSV file in-process, streaming, with no server.

It reads in chunks, runs the same Predictor and formatting as the endpoint (so the two
agree byte for byte), and writes to a unique temporary file beside the output that
replaces it only when every row is scored: a failure leaves no half-written output, and
two runs writing the same output do not mix their rows.
"""

from __future__ import annotations

import os
from pathlib import Path

from bigmart.codecs import format_predictions
from bigmart.data.reading import iter_csv_chunks
from bigmart.files import replacing
from bigmart.model.archive import opened_model
from bigmart.model.predictor import Predictor


def predict_csv(
    model: str | os.PathLike[str],
    input_csv: str | os.PathLike[str],
    output_csv: str | os.PathLike[str],
    *,
    chunk_rows: int = 50_000,
) -> int:
    """Score every row of ``input_csv`` (header required) into ``output_csv``, one
    prediction per line in input order; return the number of rows."""
    with opened_model(model) as model_dir:
        predictor = Predictor.load(model_dir)
    rows = 0
    with replacing(output_csv, "w", encoding="utf-8", newline="") as out:
        for features, _ in iter_csv_chunks(
            Path(input_csv), require_target=False, chunk_rows=chunk_rows
        ):
            predictions = format_predictions(predictor.predict(features))
            if predictions:
                out.write("\n".join(predictions))
                out.write("\n")
            rows += len(predictions)
    return rows
