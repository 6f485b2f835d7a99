"""Requests checked, and answers serialized, with botocore's own SageMaker service model.

botocore ships every shape of every operation (the JSON boto3 is generated from), so the
server needs no hand-written shapes: ``check_request`` runs botocore's ``ParamValidator``
(required members, types, minimums) and then the constraints it leaves to the service
(maximum lengths and values, patterns, enums), and ``serialize`` walks an output shape,
keeping only its members and writing each as the JSON protocol does (timestamps as epoch
seconds, blobs as base64). Errors are SageMaker's: one ``ValidationException`` naming every
field at fault, in SageMaker's words.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.validate import ParamValidator

from bigmart.api.errors import unknown_operation, validation

#: Shapes whose pattern admits only s3:// and https:// on SageMaker; locally a path or a
#: ``file://`` URI is a location too, so their pattern is not applied.
LOCATIONS = frozenset({"S3Uri", "Url", "DestinationS3Uri"})
NUMBERS = ("integer", "long", "float", "double")
#: SageMaker's words for each broken constraint.
LENGTH = "Member must have length less than or equal to"
VALUE = "Member must have value less than or equal to"
PATTERN = "Member must satisfy regular expression pattern:"
ENUM = "Member must satisfy enum value set:"


@cache
def service(name: str) -> ServiceModel:
    """The service model boto3 itself uses (``sagemaker``, ``sagemaker-runtime``)."""
    return botocore.session.get_session().get_service_model(name)


#: ``X-Amz-Target`` prefixes and the service models they name.
TARGETS = {"SageMaker": "sagemaker", "Logs_20140328": "logs"}


def operation(target: str) -> OperationModel:
    """The operation an ``X-Amz-Target`` header names (``SageMaker.CreateTrainingJob``,
    ``Logs_20140328.GetLogEvents``)."""
    owner, _, name = target.partition(".")
    if owner not in TARGETS:
        raise unknown_operation(target)
    model = service(TARGETS[owner])
    if name not in model.operation_names:
        raise unknown_operation(target)
    return model.operation_model(name)


def check_request(model: OperationModel, params: Any) -> None:
    """Refuse a request that SageMaker would refuse for its shape, naming each field."""
    if not isinstance(params, Mapping):
        raise validation("the request body must be a JSON object")
    shape = model.input_shape
    if shape is None:
        return
    report = ParamValidator().validate(params, shape)
    problems = report.generate_report().splitlines() if report.has_errors() else []
    problems += list(_constraints(shape, params, ""))
    if problems:
        count = len(problems)
        raise validation(
            f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(problems)
        )


def _constraints(shape: Shape, value: Any, path: str) -> Iterator[str]:
    """What ``ParamValidator`` leaves unchecked, worded as SageMaker words it."""
    kind = shape.type_name
    limit = shape.metadata.get("max")
    if kind == "structure" and isinstance(value, Mapping):
        for name, member in shape.members.items():
            if name in value:
                where = f"{path}.{_camel(name)}" if path else _camel(name)
                yield from _constraints(member, value[name], where)
    elif kind == "list" and isinstance(value, list):
        if limit is not None and len(value) > limit:
            yield _failed(value, path, f"{LENGTH} {limit}")
        for index, item in enumerate(value, 1):
            yield from _constraints(shape.member, item, f"{path}.{index}.member")
    elif kind == "map" and isinstance(value, Mapping):
        for key, item in value.items():
            yield from _constraints(shape.key, key, f"{path}.{key}.key")
            yield from _constraints(shape.value, item, f"{path}.{key}.value")
    elif kind == "string" and isinstance(value, str):
        pattern = shape.metadata.get("pattern")
        if limit is not None and len(value) > limit:
            yield _failed(value, path, f"{LENGTH} {limit}")
        if pattern and shape.name not in LOCATIONS and not _matches(pattern, value):
            yield _failed(value, path, f"{PATTERN} {pattern}")
        if shape.enum and value not in shape.enum:
            yield _failed(value, path, f"{ENUM} [{', '.join(shape.enum)}]")
    elif kind in NUMBERS and isinstance(value, int | float) and value > (limit or value):
        yield _failed(value, path, f"{VALUE} {limit}")


def _matches(pattern: str, value: str) -> bool:
    """The whole value matches (the model's patterns are Java's, applied to the whole);
    a pattern Python cannot read is not held against the request."""
    try:
        return re.fullmatch(pattern, value, re.DOTALL) is not None
    except re.error:
        return True


def _failed(value: Any, path: str, constraint: str) -> str:
    shown = f"'{value}'" if isinstance(value, str) else str(value)
    return f"Value {shown} at '{path}' failed to satisfy constraint: {constraint}"


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def serialize(shape: Shape | None, value: Any) -> Any:
    """``value`` as the JSON protocol sends ``shape``: unknown members dropped, timestamps
    as epoch seconds, blobs as base64."""
    if shape is None:
        return {}
    kind = shape.type_name
    if kind == "structure":
        return {
            name: serialize(shape.members[name], item)
            for name, item in value.items()
            if name in shape.members and item is not None
        }
    if kind == "list":
        return [serialize(shape.member, item) for item in value]
    if kind == "map":
        return {str(key): serialize(shape.value, item) for key, item in value.items()}
    if kind == "timestamp":
        return value.timestamp() if isinstance(value, dt.datetime) else float(value)
    if kind == "blob":
        raw = value.encode() if isinstance(value, str) else bytes(value)
        return base64.b64encode(raw).decode("ascii")
    return value
