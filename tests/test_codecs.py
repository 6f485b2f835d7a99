import numpy as np
import pytest

from bigmart.codecs import (
    CSV,
    JSON,
    JSON_LINES,
    NotAcceptable,
    UnsupportedMediaType,
    choose_accept,
    decode,
    encode_csv,
    encode_json,
    encode_json_lines,
    media_type,
)
from bigmart.container.environment import ServingSettings
from bigmart.schema import SchemaError


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, CSV),
        ("text/csv; charset=utf-8", CSV),
        ("APPLICATION/JSON", JSON),
        ("application/x-jsonlines", JSON_LINES),
        ("application/jsonl", JSON_LINES),
    ],
)
def test_media_type(header, expected):
    assert media_type(header) == expected


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, CSV),
        ("", CSV),
        ("*/*", CSV),
        ("application/json", JSON),
        ("text/html, application/jsonlines", JSON_LINES),
        ("text/csv;q=0.2, application/json;q=0.9", JSON),
        ("application/*", JSON),
    ],
)
def test_choose_accept(accept, expected):
    assert choose_accept(accept) == expected


def test_unknown_accept_and_content_type():
    with pytest.raises(NotAcceptable):
        choose_accept("image/png")
    with pytest.raises(UnsupportedMediaType):
        decode(b"x", "application/xml")


def test_encoders_write_the_shortest_float32_text():
    predictions = np.array([3735.138, 443.4228], dtype=np.float32)
    assert encode_csv(predictions) == b"3735.138\n443.4228\n"
    assert encode_json(predictions) == b'{"predictions":[3735.138,443.4228]}'
    assert encode_json_lines(predictions) == (b'{"prediction":3735.138}\n{"prediction":443.4228}\n')


def test_csv_header_without_a_feature_is_an_error():
    with pytest.raises(SchemaError, match="lacks column"):
        decode(b"Item_Identifier,Item_MRP\nFDA15,3\n", "text/csv")


def test_split_form_needs_all_features():
    with pytest.raises(SchemaError, match="lacks"):
        decode(b'{"columns": ["Item_MRP"], "data": [[1]]}', "application/json")


def test_settings_from_environment():
    settings = ServingSettings.from_environment(
        {
            "SAGEMAKER_BIND_TO_PORT": "9000",
            "MODEL_SERVER_WORKERS": "3",
            "SAGEMAKER_MODEL_SERVER_TIMEOUT": "10",
            "SAGEMAKER_BATCH": "true",
            "SAGEMAKER_MAX_PAYLOAD_IN_MB": "0",
        }
    )
    assert (settings.port, settings.workers, settings.timeout) == (9000, 3, 10)
    assert settings.max_body_bytes is None
    real_time = ServingSettings.from_environment({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "50"})
    assert real_time.max_body_bytes == 6 * 1024 * 1024  # InvokeEndpoint's cap
    assert (
        ServingSettings.from_environment(
            {"SAGEMAKER_MODEL_SERVER_WORKERS": "5", "MODEL_SERVER_WORKERS": "2"}
        ).workers
        == 5
    )


@pytest.mark.parametrize(
    "variable", ["SAGEMAKER_BIND_TO_PORT", "MODEL_SERVER_WORKERS", "SAGEMAKER_MAX_PAYLOAD_IN_MB"]
)
def test_malformed_settings_name_the_variable(variable):
    with pytest.raises(ValueError, match=variable):
        ServingSettings.from_environment({variable: "lots"})
