"""The forest and its ONNX export, on the real data."""

import numpy as np
import pytest

from bigmart.data import synthetic
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


@pytest.mark.parametrize("target", ["sales", "sales_per_mrp"])
def test_onnx_predictions_match_scikit_learn_on_the_real_data(real, real_test_csv, target):
    hp = HyperParameters.from_strings({"n_estimators": "100", "target": target})
    fitted = forest_model.fit(real.features, real.target, hp)
    predictor = exported(fitted)
    for rows in (real.features, read_labelled_test(real_test_csv)):
        expected = fitted.predict(rows)
        got = predictor.predict(rows)
        assert got.dtype == np.float32 and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=0, atol=ONNX_ABSOLUTE_TOLERANCE)


def exported(fitted: forest_model.FittedModel) -> Predictor:
    """The fitted model as serving loads it: ONNX and featurizer JSON."""
    return Predictor(
        ModelArtifact(
            onnx=forest_model.to_onnx_bytes(fitted),
            featurizer=fitted.featurizer.to_json(),
            metadata={},
        )
    )


def test_sales_per_mrp_fits_units_and_the_graph_multiplies_by_the_price(real):
    hp = HyperParameters.from_strings({"n_estimators": "20", "target": "sales_per_mrp"})
    fitted = forest_model.fit(real.features, real.target, hp)
    matrix = fitted.featurizer.transform(real.features)
    units = fitted.forest.predict(matrix)
    # the forest itself predicts sales per unit of MRP (Big Mart: roughly 1 to 60)...
    assert units.min() > 0 and units.max() < 100
    # ...and the exported graph, fed the same matrix, gives sales: units * Item_MRP
    mrp = matrix[:, forest_model.MRP_COLUMN]
    np.testing.assert_allclose(
        exported(fitted).predict_matrix(matrix), units * mrp, rtol=1e-5, atol=0.05
    )


def test_per_mrp_weights_rows_by_price_squared_and_ignores_unpriced_rows():
    ratio, weight = forest_model.per_mrp(np.array([100.0, 50.0, 7.0]), np.array([10.0, 5.0, 0.0]))
    np.testing.assert_array_equal(ratio, [10.0, 10.0, 0.0])
    # MRP², scaled to mean 1 so a fractional max_samples still means a share of the rows
    np.testing.assert_allclose(weight, np.array([100.0, 25.0, 0.0]) * 3 / 125)
    assert weight.mean() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="Item_MRP is 0 in every training row"):
        forest_model.per_mrp(np.array([1.0]), np.array([0.0]))


def test_the_default_model_trains_and_scores_sensibly_on_200_rows(tmp_path):
    """A small training set must still split: a leaf size fixed for Big Mart's 6,800 rows
    would leave one leaf, i.e. price * one average, blind to the outlet."""
    path = tmp_path / "rows.csv"
    synthetic.write_csv(path, 1_200, seed=3)
    rows = read_labelled(path)
    train = forest_model.take(rows, np.arange(200))
    test = forest_model.take(rows, np.arange(200, 1_200))
    fitted = forest_model.fit(train.features, train.target, HyperParameters())
    predicted = exported(fitted).predict(test.features).astype(np.float64)

    assert np.isfinite(predicted).all() and np.mean(predicted > 0) > 0.99
    rmse = forest_model.score(test.target, predicted).rmse
    mean_only = forest_model.score(test.target, np.full(len(test), train.target.mean())).rmse
    units = train.target.sum() / train.features["Item_MRP"].sum()
    price_only = forest_model.score(test.target, units * test.features["Item_MRP"]).rmse
    assert rmse < 0.75 * mean_only and rmse < 0.85 * price_only


def test_max_samples_is_a_share_of_the_rows_when_fitting_sales_per_mrp(tmp_path):
    path = tmp_path / "rows.csv"
    synthetic.write_csv(path, 200, seed=5)
    rows = read_labelled(path)
    hp = HyperParameters(n_estimators=3, max_samples=0.5, target="sales_per_mrp", n_jobs=1)
    fitted = forest_model.fit(rows.features, rows.target, hp)
    # each tree sees at most 100 distinct rows, not a draw sized by the sum of MRP²
    assert all(tree.tree_.n_node_samples[0] <= 100 for tree in fitted.forest.estimators_)


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
