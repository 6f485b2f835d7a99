"""One error base: every user-facing error carries its HTTP status and its CLI exit code,
the endpoint renders any of them with one handler, the CLI with one ``except``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

import bigmart.aws.errors
import bigmart.aws.images
import bigmart.codecs
import bigmart.container.app
import bigmart.container.train
import bigmart.local.engines
import bigmart.local.server_process
import bigmart.local.storage
import bigmart.model.artifact
import bigmart.model.hyperparameters
import bigmart.schema
from bigmart import cli, errors
from bigmart.cli import main as cli_main
from bigmart.cli import synth
from bigmart.container.app import InferenceApp
from bigmart.container.settings import ServingSettings
from bigmart.errors import BigmartError

#: Every user-facing error and its (HTTP status, CLI exit code). The exit codes are the ones
#: the README and cli/main.py document: 2 a usage error or a refused input, 1 a failure.
EXPECTED = {
    errors.UsageError: (400, 2),
    errors.RequestError: (400, 2),
    bigmart.schema.SchemaError: (400, 2),
    bigmart.model.hyperparameters.HyperParameterError: (400, 2),
    bigmart.container.train.ContractError: (400, 2),
    bigmart.local.engines.EngineError: (400, 2),
    bigmart.codecs.UnsupportedMediaType: (415, 2),
    bigmart.codecs.NotAcceptable: (406, 2),
    bigmart.container.app.PayloadTooLarge: (413, 2),
    bigmart.model.artifact.ArtifactError: (500, 2),
    bigmart.local.storage.StorageError: (500, 1),
    bigmart.local.server_process.ServerError: (500, 1),
    bigmart.aws.errors.JobFailed: (500, 1),
    bigmart.aws.errors.EndpointFailed: (500, 1),
    bigmart.aws.errors.WaitTimeout: (504, 1),
    bigmart.aws.images.ImageError: (500, 1),
}


def _all_subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_all_subclasses(sub)}
    return found


def _instance(cls: type[BigmartError]) -> BigmartError:
    """An instance with a recognisable message, whatever the constructor."""
    if issubclass(cls, bigmart.aws.errors.JobFailed):
        return cls("training job", "job-1", "Failed", "boom: bad row 3")
    if cls is bigmart.container.app.PayloadTooLarge:
        return cls(6 * 1024 * 1024)
    return cls("boom: bad row 3")


def _user_errors() -> list[type[BigmartError]]:
    found = {c for c in _all_subclasses(BigmartError) if c.__module__.startswith("bigmart.")}
    return sorted(found, key=lambda c: f"{c.__module__}.{c.__qualname__}")


def test_every_user_facing_error_is_a_bigmart_error_with_its_codes() -> None:
    for cls, (status, exit_code) in EXPECTED.items():
        assert issubclass(cls, BigmartError), cls
        assert (cls.status_code, cls.exit_code) == (status, exit_code), cls
    assert set(EXPECTED) <= set(_user_errors())


def test_the_older_bases_still_hold_for_existing_except_clauses() -> None:
    assert issubclass(bigmart.schema.SchemaError, ValueError)
    assert issubclass(bigmart.model.artifact.ArtifactError, ValueError)
    assert issubclass(bigmart.codecs.UnsupportedMediaType, ValueError)
    assert issubclass(bigmart.local.storage.StorageError, OSError)
    assert issubclass(bigmart.aws.errors.WaitTimeout, TimeoutError)
    assert issubclass(bigmart.local.server_process.ServerError, RuntimeError)


def test_usage_error_is_importable_from_the_cli_and_is_a_bigmart_error() -> None:
    assert cli.UsageError is errors.UsageError
    assert issubclass(cli.UsageError, BigmartError)


class _Raising:
    """A predictor whose every prediction raises ``error``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def predict(self, batch: Any) -> Any:
        raise self.error


def _invoke(app: InferenceApp, body: bytes = b"x\n") -> tuple[int, dict[bytes, bytes], bytes]:
    """POST /invocations through the ASGI app; returns status, headers and body."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/invocations",
        "headers": [(b"content-type", b"text/csv"), (b"content-length", str(len(body)).encode())],
    }
    asyncio.run(app(scope, receive, send))
    start, answer = sent
    return start["status"], dict(start["headers"]), answer["body"]


@pytest.mark.parametrize("cls", _user_errors(), ids=lambda c: c.__name__)
def test_every_bigmart_error_renders_to_its_status_through_the_app(
    cls: type[BigmartError], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bigmart.container.app, "decode", lambda body, content_type: {})
    app = InferenceApp(Path("unused"), ServingSettings())
    error = _instance(cls)
    app.predictor = _Raising(error)  # type: ignore[assignment]
    status, headers, body = _invoke(app)
    assert status == cls.status_code
    assert orjson.loads(body) == error.as_dict()
    assert headers[b"content-type"] == b"application/json"
    assert (headers.get(b"connection") == b"close") == (status == 413)


def test_a_schema_error_keeps_its_row_and_column_in_the_body(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bigmart.container.app, "decode", lambda body, content_type: {})
    app = InferenceApp(Path("unused"), ServingSettings())
    app.predictor = _Raising(  # type: ignore[assignment]
        bigmart.schema.SchemaError("expected a number, got 'cheap'", row=3, column="Item_MRP")
    )
    status, _, body = _invoke(app)
    assert status == 400
    assert orjson.loads(body) == {
        "error": "expected a number, got 'cheap'",
        "row": 3,
        "column": "Item_MRP",
    }


def test_media_type_errors_do_not_depend_on_except_order() -> None:
    # Both are ValueErrors: a handler ladder catching ValueError first would answer 400.
    app = InferenceApp(Path("unused"), ServingSettings())
    app.predictor = _Raising(AssertionError("never reached"))  # type: ignore[assignment]

    def post(headers: list[tuple[bytes, bytes]]) -> int:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"1", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/invocations", "headers": headers}
        asyncio.run(app(scope, receive, send))
        return int(sent[0]["status"])

    assert post([(b"content-type", b"image/png")]) == 415
    assert post([(b"accept", b"image/png")]) == 406
    assert post([(b"content-length", b"7 MB")]) == 400  # a plain ValueError: still bad input
    assert post([(b"content-length", str(7 * 1024 * 1024).encode())]) == 413


@pytest.mark.parametrize("cls", _user_errors(), ids=lambda c: c.__name__)
def test_the_cli_prints_one_line_and_exits_with_the_error_s_code(
    cls: type[BigmartError],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    error = _instance(cls)

    def raising(args: Any) -> int:
        raise error

    monkeypatch.setattr(synth, "run", raising)
    with pytest.raises(SystemExit) as exited:
        cli_main.main(["synth", "--output", "unused.csv"])
    assert exited.value.code == cls.exit_code
    assert capsys.readouterr().err == f"bigmart: error: {error}\n"
