"""The forest and its ONNX export, on the real data."""

import numpy as np
import pytest

from bigmart.data.reading import read_labelled
from bigmart.model import forest as forest_model
from bigmart.model.artifact import ModelArtifact
from bigmart.model.hyperparameters import HyperParameters
from bigmart.model.predictor import Predictor

#: ONNX Runtime runs trees in float32 (thresholds and leaf sums), scikit-learn in float64.
#: On the real data the largest difference measured is well under 0.01 sales units;
#: this bound leaves room for other library versions.
ONNX_ABSOLUTE_TOLERANCE = 0.05


@pytest.fixture(scope="module")
def real(real_train_csv):
    return read_labelled(real_train_csv)


def test_onnx_predictions_match_scikit_learn_on_the_real_data(real, real_test_csv):
    hp = HyperParameters.from_strings({"n_estimators": "100"})
    fitted = forest_model.fit(real.features, real.target, hp)
    predictor = Predictor(
        ModelArtifact(
            onnx=forest_model.to_onnx_bytes(fitted.forest),
            featurizer=fitted.featurizer.to_json(),
            metadata={},
        )
    )
    for rows in (real.features, read_labelled_test(real_test_csv)):
        expected = fitted.predict(rows)
        got = predictor.predict(rows)
        assert got.dtype == np.float32 and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=0, atol=ONNX_ABSOLUTE_TOLERANCE)


def read_labelled_test(path):
    from bigmart.data.reading import iter_csv_chunks

    ((features, _),) = list(iter_csv_chunks(path, require_target=False))
    return features


def test_holdout_metrics_are_sane_and_the_model_learns(real):
    hp = HyperParameters.from_strings({"n_estimators": "30"})
    train, test = forest_model.split_holdout(real, 0.2, seed=0)
    scores = forest_model.evaluate(
        forest_model.fit(train.features, train.target, hp), test.features, test.target
    )
    baseline = forest_model.score(test.target, np.full(len(test), train.target.mean()))
    assert scores.rmse < 0.7 * baseline.rmse
    assert 0.5 < scores.r2 < 1 and scores.mae < scores.rmse


def test_score_matches_definitions():
    scores = forest_model.score(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    assert scores.rmse == pytest.approx(np.sqrt(4 / 3))
    assert scores.mae == pytest.approx(2 / 3)
    assert scores.r2 == pytest.approx(1 - 4 / 2)


def test_cross_validation_gives_one_score_per_fold(real):
    hp = HyperParameters.from_strings({"n_estimators": "10", "cv_folds": "3"})
    folds = forest_model.cross_validate(real, hp)
    assert len(folds) == 3 and sum(f.rows for f in folds) == len(real)
