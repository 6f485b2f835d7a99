"""api.shapes: requests checked and answers written with botocore's service model."""

from __future__ import annotations

import datetime as dt

import pytest

from bigmart.api import shapes
from bigmart.api.errors import ApiError

DESCRIBE_ENDPOINT = shapes.service("sagemaker").operation_model("DescribeEndpoint")
CREATE_MODEL = shapes.service("sagemaker").operation_model("CreateModel")


def _refusal(operation, request) -> str:
    with pytest.raises(ApiError) as raised:
        shapes.check_request(operation, request)
    assert raised.value.code == "ValidationException" and raised.value.status == 400
    return raised.value.message


def test_each_broken_constraint_is_named_in_one_message():
    message = _refusal(
        CREATE_MODEL,
        {"ModelName": "a_b", "PrimaryContainer": {"Image": "i", "Mode": "Sometimes"}},
    )
    assert message.startswith("2 validation errors detected: ")
    assert "Value 'a_b' at 'modelName' failed to satisfy constraint" in message
    assert (
        "'primaryContainer.mode' failed to satisfy constraint: Member must satisfy enum" in message
    )
    assert "\n" not in message


def test_locations_may_be_paths_or_file_uris_here():
    for location in ("/data/model.tar.gz", "file:///data/model.tar.gz", "s3://b/k"):
        request = {"ModelName": "m", "PrimaryContainer": {"ModelDataUrl": location}}
        shapes.check_request(CREATE_MODEL, request)


def test_lengths_past_the_maximum_are_refused():
    assert "Member must have length less than or equal to 63" in _refusal(
        DESCRIBE_ENDPOINT, {"EndpointName": "a" * 64}
    )


def test_answers_keep_only_the_shapes_members_with_epoch_timestamps():
    when = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    answer = shapes.serialize(
        DESCRIBE_ENDPOINT.output_shape,
        {"EndpointName": "e", "CreationTime": when, "Local": "dropped", "FailureReason": None},
    )
    assert answer == {"EndpointName": "e", "CreationTime": when.timestamp()}


def test_an_operation_not_in_the_model_is_unknown():
    with pytest.raises(ApiError) as raised:
        shapes.operation("SageMaker.Nothing")
    assert raised.value.code == "UnknownOperationException"
    with pytest.raises(ApiError):
        shapes.operation("Logs_20140328.PutLogEvents_Nothing")
    with pytest.raises(ApiError):
        shapes.operation("DynamoDB_20120810.GetItem")
    assert shapes.operation("Logs_20140328.GetLogEvents").name == "GetLogEvents"
