import subprocess
import sys
from pathlib import Path

import pytest

from bigmart.local.transform.jsonpath import JsonPathError, compile_path
from bigmart.local.transform.options import TransformOptions

ROW = ["id-7", "FDA15", "9.3", "Low Fat"]


@pytest.mark.parametrize(
    ("expression", "value", "expected"),
    [
        ("$", ROW, ROW),
        ("$[1:]", ROW, ROW[1:]),
        ("$[0]", ROW, "id-7"),
        ("$[-1]", ROW, "Low Fat"),
        ("$[0,-1]", ROW, ["id-7", "Low Fat"]),
        ("$[0,2:]", ROW, ["id-7", "9.3", "Low Fat"]),
        ("$[:2]", ROW, ROW[:2]),
        ("$.features", {"features": [1, 2], "id": 3}, [1, 2]),
        ("$.a.b", {"a": {"b": 5}}, 5),
        (
            "$['id','SageMakerOutput']",
            {"id": 1, "x": 2, "SageMakerOutput": 3},
            {"id": 1, "SageMakerOutput": 3},
        ),
        ("$['id']", {"id": 1}, 1),
        ("$.features[1:]", {"features": [1, 2, 3]}, [2, 3]),
    ],
)
def test_supported_expressions(expression, value, expected):
    assert compile_path(expression)(value) == expected


@pytest.mark.parametrize("expression", ["features", "$..x", "$[?(@.a)]", "$[a:b]"])
def test_unsupported_expressions_are_refused(expression):
    with pytest.raises(JsonPathError):
        compile_path(expression)


def test_shape_mismatch_is_an_error():
    with pytest.raises(JsonPathError, match="not an array"):
        compile_path("$[1:]")({"a": 1})
    with pytest.raises(JsonPathError, match="no member"):
        compile_path("$.missing")({"a": 1})
    with pytest.raises(JsonPathError, match="out of range"):
        compile_path("$[9]")(ROW)


@pytest.mark.parametrize("option", ["input_filter", "output_filter"])
def test_a_bad_filter_is_refused_when_the_options_are_made(option):
    with pytest.raises(ValueError, match=rf"^{option}: '\$\[1:': cannot read"):
        TransformOptions(**{option: "$[1:"})


def test_a_bad_filter_fails_the_command_before_a_job_is_recorded(tmp_path):
    bigmart = str(Path(sys.executable).with_name("bigmart"))
    command = [bigmart, "transform", "--model", "m", "--input", str(tmp_path), "--output", "o"]
    result = subprocess.run(
        [*command, "--name", "bad-filter", "--input-filter", "$.["],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "input_filter: '$.['" in result.stderr
    shown = subprocess.run([bigmart, "jobs", "show", "bad-filter"], capture_output=True, text=True)
    assert shown.returncode == 2 and "no job or endpoint named 'bad-filter'" in shown.stderr


@pytest.mark.parametrize("accept", ["application/json", "application/jsonlines"])
def test_csv_joined_with_its_input_is_written_as_csv_only(accept):
    with pytest.raises(ValueError, match="join_source=Input with text/csv input writes CSV"):
        TransformOptions(join_source="Input", accept=accept)
    assert TransformOptions(join_source="Input", accept="text/csv; charset=utf-8").accept
    assert TransformOptions(
        join_source="Input", content_type="application/jsonlines", accept=accept
    )
