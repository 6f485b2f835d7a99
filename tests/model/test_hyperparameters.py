import pytest

from bigmart.model.hyperparameters import HyperParameterError, HyperParameters, sagemaker_names


def test_strings_are_parsed_to_types():
    hp = HyperParameters.from_strings(
        {
            "n_estimators": "50",
            "max_depth": "None",
            "max_features": "0.5",
            "validation_fraction": "0.1",
            "cv_folds": "5",
            "random_state": "3",
        }
    )
    assert (hp.n_estimators, hp.max_depth, hp.max_features) == (50, None, 0.5)
    assert (hp.validation_fraction, hp.cv_folds, hp.random_state) == (0.1, 5, 3)


def test_defaults_are_the_tuned_forest():
    hp = HyperParameters.from_strings({})
    assert hp.n_estimators == 500 and hp.max_depth is not None


def test_round_trip_through_strings():
    hp = HyperParameters.from_strings({"max_depth": "None", "max_features": "sqrt"})
    assert HyperParameters.from_strings(hp.as_strings()) == hp
    assert all(isinstance(v, str) for v in hp.as_strings().values())


def test_unknown_name_fails_and_lists_the_valid_ones():
    with pytest.raises(HyperParameterError) as error:
        HyperParameters.from_strings({"n_estimator": "10"})
    message = str(error.value)
    assert "n_estimator" in message and "n_estimators (an integer" in message
    assert "cv_folds" in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("n_estimators", "ten"),
        ("n_estimators", "0"),
        ("max_depth", "1.5"),
        ("min_samples_leaf", "-1"),
        ("max_features", "1.5"),
        ("max_features", "auto"),
        ("validation_fraction", "0.9"),
        ("cv_folds", "1"),
        ("random_state", "-3"),
        ("n_jobs", "0"),
        ("max_samples", "0"),
    ],
)
def test_malformed_or_out_of_range_values_name_the_parameter(name, value):
    with pytest.raises(HyperParameterError) as error:
        HyperParameters.from_strings({name: value})
    assert f"{name}={value!r}" in str(error.value) and "expected" in str(error.value)


def test_keys_sagemaker_adds_are_skipped():
    values = {
        "_tuning_objective_metric": "validation:rmse",
        "sagemaker_job_name": "tune-001",
        "sagemaker_region": "us-east-1",
        "sagemaker_container_log_level": "20",
        "n_estimators": "20",
    }
    assert HyperParameters.from_strings(values) == HyperParameters(n_estimators=20)
    assert sagemaker_names(values) == [
        "_tuning_objective_metric",
        "sagemaker_container_log_level",
        "sagemaker_job_name",
        "sagemaker_region",
    ]


@pytest.mark.parametrize("typo", ["tuning_objective_metric", "_n_estimators", "sagemakerjob"])
def test_unknown_names_are_still_refused_beside_sagemaker_keys(typo):
    with pytest.raises(HyperParameterError) as error:
        HyperParameters.from_strings({"_tuning_objective_metric": "validation:rmse", typo: "1"})
    assert f"unknown hyper-parameter(s) {typo};" in str(error.value)


@pytest.mark.parametrize(
    "values",
    [
        {"x" * 100_000: "1"},
        {"n_estimators": "9" * 100_000},
        {f"name_{i}": "1" for i in range(5_000)},
    ],
    ids=["long-name", "long-value", "many-names"],
)
def test_errors_quote_input_clipped(values):
    with pytest.raises(HyperParameterError) as error:
        HyperParameters.from_strings(values)
    message = str(error.value)
    assert len(message) < 1_500 and ("…" in message or "and 4,988 more" in message)
