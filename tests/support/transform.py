"""Input files and expected predictions for the batch transform tests."""

from __future__ import annotations

from pathlib import Path

from bigmart.data import synthetic as synth
from bigmart.local.predict import predict_csv


def rows_file(path: Path, rows: int, seed: int, header: bool = True) -> Path:
    text = synth.csv_text(rows, seed, with_target=False)
    if not header:
        text = text.split("\n", 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def expected(model: Path, csv_with_header: Path, tmp_path: Path) -> list[str]:
    out = tmp_path / f"expected-{csv_with_header.name}.txt"
    predict_csv(model, csv_with_header, out)
    return out.read_text().splitlines()
