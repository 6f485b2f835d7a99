"""Synthetic Big Mart rows: streamed in bounded chunks, with a learnable target."""

from __future__ import annotations

from bigmart.data import synthetic as synth


def test_synth_streams_in_bounded_chunks():
    chunks = list(synth.iter_rows(synth.CHUNK_ROWS * 2 + 5, seed=1))
    assert [len(c) for c in chunks] == [synth.CHUNK_ROWS, synth.CHUNK_ROWS, 5]


def test_synthetic_target_is_learnable(tmp_path):
    from bigmart.model.hyperparameters import HyperParameters
    from bigmart.model.training import run_training

    data = tmp_path / "s.csv"
    synth.write_csv(data, 5000, seed=3)
    result = run_training(
        data, tmp_path / "m", log=lambda _: None, hyperparameters=HyperParameters(n_estimators=30)
    )
    assert result.metrics["validation:r2"] > 0.5
