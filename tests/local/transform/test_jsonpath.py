import pytest

from bigmart.local.transform.jsonpath import JsonPathError, compile_path

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
