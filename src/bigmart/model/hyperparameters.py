"""Hyper-parameters: typed, range-checked, parsed from SageMaker's all-string JSON.

SageMaker passes ``hyperparameters.json`` with every value a string (``{"n_estimators":
"500"}``). A value that does not parse, is out of range, or a name we do not know fails the
job with a message that names it and lists what is valid: a typo must never silently train
the default model. Keys SageMaker itself adds (see ``added_by_sagemaker``) are not settings
of this algorithm and are left out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from bigmart.clipping import clip, clip_list
from bigmart.errors import UserError


class HyperParameterError(UserError, ValueError):
    """A hyper-parameter that is unknown, malformed or out of range."""


@dataclass(frozen=True)
class HyperParameters:
    """The forest's and the evaluation's settings, with defaults tuned on Big Mart.

    Big Mart's sales are about Item_MRP * an outlet factor * noise, so the forest learns
    sales per unit of MRP (``target``) and needs only small trees: 200 of depth 4, each leaf
    at least 3% of the training rows (205 of the 6,818 a default run trains on; 6 of 200),
    half the smallest outlet's share (6.2%): at 7% CV jumps by 85 RMSE.
    ``benchmarks/accuracy.py`` measures CV, size and time against the seed and the
    previous defaults.
    """

    n_estimators: int = 200
    max_depth: int | None = 4
    min_samples_leaf: int | float = 0.03
    max_features: float | str | None = 0.6
    target: str = "sales_per_mrp"
    max_samples: float | None = None
    random_state: int = 0
    validation_fraction: float = 0.2
    cv_folds: int = 0
    n_jobs: int = -1

    @classmethod
    def from_strings(cls, values: Mapping[str, Any]) -> HyperParameters:
        """Parse SageMaker-style values (strings; JSON numbers are tolerated); keys that
        SageMaker adds are skipped."""
        values = {k: v for k, v in values.items() if not added_by_sagemaker(k)}
        unknown = sorted(set(values) - set(_PARSERS))
        if unknown:
            raise HyperParameterError(
                f"unknown hyper-parameter(s) {clip_list(unknown)}; valid: {valid_names()}"
            )
        parsed: dict[str, Any] = {}
        for name, raw in values.items():
            text = raw if isinstance(raw, str) else json.dumps(raw)
            parser, rule = _PARSERS[name]
            try:
                parsed[name] = parser(text.strip())
            except (ValueError, TypeError) as error:
                raise HyperParameterError(
                    f"hyper-parameter {name}={clip(text, 60)!r} is invalid: "
                    f"{clip(str(error), 120)}; expected {rule}"
                ) from None
        return cls(**parsed)

    def as_strings(self) -> dict[str, str]:
        """The values as SageMaker would carry them (every value a string)."""
        return {name: "None" if v is None else str(v) for name, v in asdict(self).items()}

    def forest_params(self) -> dict[str, Any]:
        """Keyword arguments for scikit-learn's RandomForestRegressor."""
        return {
            "n_estimators": self.n_estimators,
            "max_depth": self.max_depth,
            "min_samples_leaf": self.min_samples_leaf,
            "max_features": self.max_features,
            "max_samples": self.max_samples,
            "random_state": self.random_state,
            "n_jobs": self.n_jobs,
        }


def added_by_sagemaker(name: str) -> bool:
    """Whether SageMaker, not the user, put ``name`` in hyperparameters.json.

    Automatic Model Tuning adds ``_tuning_objective_metric``, and the Python SDK adds
    ``sagemaker_*`` keys (job name, region, log level) for some estimators. Refusing them
    would fail every tuning job.
    """
    return name == "_tuning_objective_metric" or name.startswith("sagemaker_")


def sagemaker_names(values: Mapping[str, Any]) -> list[str]:
    """The keys of ``values`` that SageMaker added, sorted: ``from_strings`` skips them."""
    return sorted(name for name in values if added_by_sagemaker(name))


def valid_names() -> str:
    """Every valid name with its rule, for error messages and ``--help``."""
    return "; ".join(f"{name} ({rule})" for name, (_, rule) in _PARSERS.items())


# Each parser raises ValueError with a reason in plain words ("not a whole number", "out of
# range"), never Python's own wording ("invalid literal for int() with base 10"): the
# message around it names the hyper-parameter, quotes the value and says what is valid.
OUT_OF_RANGE = "out of range"


def _whole(text: str) -> int:
    """``text`` as an integer; "1.5", "ten" or "1e3" are not whole numbers."""
    try:
        return int(text)
    except ValueError:
        raise ValueError("not a whole number") from None


def _real(text: str) -> float:
    """``text`` as a finite number."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError("not a number") from None
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def _int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = _whole(text)
        if value < low or (high is not None and value > high):
            raise ValueError(OUT_OF_RANGE)
        return value

    return parse


def _none_or(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse_optional(text: str) -> Any:
        return None if text.lower() in ("none", "null") else parse(text)

    return parse_optional


def _fraction(low: float, high: float, *, low_open: bool = False) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = _real(text)
        if not (low < value if low_open else low <= value) or value > high:
            raise ValueError(OUT_OF_RANGE)
        return value

    return parse


def _max_features(text: str) -> float | str | None:
    if text in ("sqrt", "log2"):
        return text
    if text.lower() in ("none", "null", "1.0", "1"):
        return None  # all features
    try:
        float(text)
    except ValueError:
        raise ValueError("neither a number nor one of the words allowed") from None
    return _fraction(0.0, 1.0, low_open=True)(text)


def _min_samples_leaf(text: str) -> int | float:
    try:
        return _int_in(1)(text)
    except ValueError:
        if text.lstrip("+-").isdigit():
            raise  # an integer out of range says so, not "not a fraction"
    value = _real(text)
    if not 0.0 < value < 1.0:
        raise ValueError(OUT_OF_RANGE)
    return value


def _n_jobs(text: str) -> int:
    value = _whole(text)
    if value == 0 or value < -1:
        raise ValueError(OUT_OF_RANGE)
    return value


def _cv_folds(text: str) -> int:
    value = _whole(text)
    if value == 1 or not 0 <= value <= 20:
        raise ValueError(OUT_OF_RANGE)
    return value


#: What the forest is fit on: units sold per unit of price (then multiplied back by
#: Item_MRP inside the ONNX graph), or the sales themselves.
TARGETS: tuple[str, ...] = ("sales_per_mrp", "sales")


def _target(text: str) -> str:
    if text not in TARGETS:
        raise ValueError("not one of the targets")
    return text


_PARSERS: dict[str, tuple[Callable[[str], Any], str]] = {
    "n_estimators": (_int_in(1, 5000), "an integer from 1 to 5000"),
    "max_depth": (_none_or(_int_in(1, 100)), "an integer from 1 to 100, or None"),
    "min_samples_leaf": (
        _min_samples_leaf,
        "an integer >= 1 (rows), or a fraction in (0, 1) of the training rows",
    ),
    "max_features": (
        _max_features,
        "a fraction in (0, 1], 'sqrt', 'log2' or None (all features)",
    ),
    "target": (_target, "sales_per_mrp (sales / Item_MRP, weighted by Item_MRP²) or sales"),
    "max_samples": (_none_or(_fraction(0.0, 1.0, low_open=True)), "a fraction in (0, 1] or None"),
    "random_state": (_int_in(0, 2**32 - 1), "an integer from 0 to 4294967295"),
    "validation_fraction": (
        _fraction(0.0, 0.5),
        "a fraction from 0 to 0.5 (0: no hold-out; ignored when a validation channel is given)",
    ),
    "cv_folds": (_cv_folds, "0 (no cross-validation) or an integer from 2 to 20"),
    "n_jobs": (_n_jobs, "-1 (one per core) or a positive integer"),
}

assert set(_PARSERS) == {f.name for f in fields(HyperParameters)}
