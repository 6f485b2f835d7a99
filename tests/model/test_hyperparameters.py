import pytest

from bigmart.model.hyperparameters import (
    _PARSERS,
    HyperParameterError,
    HyperParameters,
    sagemaker_names,
    valid_names,
)


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
    assert (hp.n_estimators, hp.max_depth, hp.max_features) == (200, 4, 0.6)
    # the leaf size is a share of the training rows, so a small training set still splits
    assert isinstance(hp.min_samples_leaf, float) and 0 < hp.min_samples_leaf < 0.05
    assert hp.target == "sales_per_mrp"


@pytest.mark.parametrize("target", ["sales", "sales_per_mrp"])
def test_target_is_parsed(target):
    assert HyperParameters.from_strings({"target": target}).target == target


def test_an_unknown_target_lists_the_valid_ones():
    with pytest.raises(HyperParameterError) as error:
        HyperParameters.from_strings({"target": "units"})
    assert "target='units'" in str(error.value) and "sales_per_mrp" in str(error.value)


@pytest.mark.parametrize(("text", "value"), [("200", 200), ("0.03", 0.03), ("1e-2", 0.01)])
def test_min_samples_leaf_is_rows_or_a_fraction_of_them(text, value):
    parsed = HyperParameters.from_strings({"min_samples_leaf": text}).min_samples_leaf
    assert parsed == value and type(parsed) is type(value)
    assert HyperParameters(min_samples_leaf=value).forest_params()["min_samples_leaf"] == value


def test_round_trip_through_strings():
    hp = HyperParameters.from_strings({"max_depth": "None", "max_features": "sqrt"})
    assert HyperParameters.from_strings(hp.as_strings()) == hp
    defaults = HyperParameters()  # a fractional leaf size and a target survive the trip too
    assert HyperParameters.from_strings(defaults.as_strings()) == defaults
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
        ("min_samples_leaf", "0"),
        ("min_samples_leaf", "1.0"),
        ("min_samples_leaf", "nan"),
        ("target", "units"),
        ("target", "Sales"),
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
    message = str(error.value)
    assert f"{name}={value!r}" in message and "expected" in message and "\n" not in message


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("n_estimators", "abc", "not a whole number"),
        ("n_estimators", "1e3", "not a whole number"),
        ("n_estimators", "0", "out of range"),
        ("max_depth", "1.5", "not a whole number"),
        ("min_samples_leaf", "few", "not a number"),
        ("min_samples_leaf", "nan", "not a finite number"),
        ("min_samples_leaf", "0", "out of range"),
        ("max_features", "auto", "neither a number nor one of the words allowed"),
        ("max_features", "inf", "not a finite number"),
        ("target", "units", "not one of the targets"),
        ("max_samples", "half", "not a number"),
        ("random_state", "seed", "not a whole number"),
        ("validation_fraction", "0.9", "out of range"),
        ("cv_folds", "five", "not a whole number"),
        ("n_jobs", "all", "not a whole number"),
    ],
)
def test_every_error_says_name_value_and_valid_values_in_plain_words(name, value, reason):
    with pytest.raises(HyperParameterError) as error:
        HyperParameters.from_strings({name: value})
    rule = f"{name} ({_PARSERS[name][1]})"  # as --help lists it
    assert rule in valid_names()
    assert str(error.value) == (
        f"hyper-parameter {name}={value!r} is invalid: {reason}; expected {_PARSERS[name][1]}"
    )
    for python_wording in ("literal", "int()", "convert", "base 10", "could not"):
        assert python_wording not in str(error.value)


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
