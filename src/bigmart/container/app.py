"""The hosting container's web app: ``/ping``, ``/invocations``, ``/execution-parameters``.

A bare ASGI app rather than a framework: a prediction costs tens of microseconds, so the
request path is kept to a table lookup, a decode, a predict and an encode. The predictor is
created at lifespan start-up, inside the worker process (ONNX Runtime sessions must not
cross a fork), before the worker accepts a connection; so is the data capture's writer
thread, if the endpoint captures (``capture``), which lifespan shutdown drains.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from bigmart.codecs import (
    ENCODERS,
    choose_accept,
    decode,
    decode_batch_records,
    encode_after_header,
)
from bigmart.container.capture import CaptureConfig, DataCapture
from bigmart.container.settings import CUSTOM_ATTRIBUTES, ServingSettings, payload_too_large
from bigmart.errors import BigmartError, UserError
from bigmart.model.predictor import Predictor

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_HEADERS = [(b"content-type", b"application/json")]
log = logging.getLogger("bigmart.serve")


class PayloadTooLarge(UserError):
    """The body is over the payload limit (HTTP 413); the message says the limit."""

    status_code = 413

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        super().__init__(payload_too_large(limit_bytes))


class InferenceApp:
    """SageMaker's hosting routes over one loaded model."""

    def __init__(
        self, model_dir: Path, settings: ServingSettings, capture: CaptureConfig | None = None
    ) -> None:
        self.model_dir = model_dir
        self.settings = settings
        self.predictor: Predictor | None = None
        self.capture_config = capture
        self.capture: DataCapture | None = None
        self.routes: dict[tuple[str, str], Callable[[Scope, Receive, Send], Awaitable[None]]] = {
            ("GET", "/ping"): self.ping,
            ("POST", "/invocations"): self.invocations,
            ("GET", "/execution-parameters"): self.execution_parameters,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            route = self.routes.get((scope["method"], scope["path"]))
            if route is None:
                await self.not_found(scope, send)
            else:
                await route(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self.lifespan(receive, send)

    def load(self) -> None:
        """Load the model into this process (one ONNX Runtime thread).

        Then every object alive is moved out of the garbage collector's sight
        (``gc.freeze``): the libraries' hundreds of thousands of long-lived objects would
        otherwise be rescanned by full collections, pauses of several milliseconds that
        show as the p99 latency of one-row requests.
        """
        if self.predictor is None:
            self.predictor = Predictor.load(self.model_dir, threads=1)
            gc.collect()
            gc.freeze()

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.load()
                except Exception as error:  # report any load failure, never serve without
                    log.error("cannot load the model from %s: %s", self.model_dir, error)
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                if self.capture_config is not None:
                    self.capture = DataCapture(self.capture_config)
                    self.capture.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.capture is not None:  # after the last answer: write what it holds
                    await asyncio.to_thread(self.capture.close)
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- routes -------------------------------------------------------------------------

    async def ping(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.predictor is None:
            await _respond(send, 503, b"", [])
        else:
            await _respond(send, 200, b"", [])

    async def execution_parameters(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _respond(send, 200, orjson.dumps(self.settings.execution_parameters()), JSON_HEADERS)

    async def invocations(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope)
        echo = (
            [(CUSTOM_ATTRIBUTES, headers[CUSTOM_ATTRIBUTES])]
            if (CUSTOM_ATTRIBUTES in headers)
            else []
        )
        limit = self.settings.max_body_bytes
        try:
            declared = headers.get(b"content-length")
            if limit is not None and declared is not None and int(declared) > limit:
                raise PayloadTooLarge(limit)
            accept = choose_accept(headers.get(b"accept", b"").decode("latin-1"))
            body = await _read_body(receive, limit)
            if self.predictor is None:
                self.load()
            assert self.predictor is not None
            content_type = headers.get(b"content-type", b"").decode("latin-1")
            if self.settings.batch:
                payload = self._score_batch_records(body, content_type, accept)
            else:
                payload = ENCODERS[accept](self.predictor.predict(decode(body, content_type)))
        except (BigmartError, ValueError) as error:  # ValueError: e.g. a bad Content-Length
            await _render(send, error, echo)
        else:
            await _respond(send, 200, payload, [(b"content-type", accept.encode()), *echo])
            if self.capture is not None:  # after the answer: it never waits for capture
                self.capture.record(body, content_type, payload, accept)

    def _score_batch_records(self, body: bytes, content_type: str, accept: str) -> bytes:
        """Batch transform: a CSV header row sent as a record gets an output line too."""
        assert self.predictor is not None
        batch, header = decode_batch_records(body, content_type)
        if batch is None:
            predictions = np.empty(0, dtype=np.float32)
        else:
            predictions = self.predictor.predict(batch)
        return encode_after_header(predictions, accept) if header else ENCODERS[accept](predictions)

    async def not_found(self, scope: Scope, send: Send) -> None:
        known = {path for _, path in self.routes}
        if scope["path"] in known:
            allowed = ", ".join(m for m, p in self.routes if p == scope["path"])
            await _error(
                send,
                405,
                {"error": f"{scope['method']} is not allowed on {scope['path']}; use {allowed}"},
                [],
            )
        else:
            await _error(
                send,
                404,
                {
                    "error": f"no route {scope['path']}; the routes are "
                    "GET /ping, POST /invocations, GET /execution-parameters"
                },
                [],
            )


async def _read_body(receive: Receive, limit: int | None) -> bytes:
    """The whole body, refused as soon as it passes ``limit`` (for chunked uploads)."""
    message = await receive()
    body = message.get("body", b"")
    if not message.get("more_body", False):
        if limit is not None and len(body) > limit:
            raise PayloadTooLarge(limit)
        return body
    parts = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            raise PayloadTooLarge(limit)
        parts.append(chunk)
    return b"".join(parts)


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {name.lower(): value for name, value in scope["headers"]}


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _render(
    send: Send, error: BigmartError | ValueError, echo: list[tuple[bytes, bytes]]
) -> None:
    """Any error as its status and JSON body: the one place errors become answers. A
    ``ValueError`` that is not a ``BigmartError`` is bad input too (400): bad input never
    costs a 5xx."""
    if isinstance(error, BigmartError):
        status, detail = error.status_code, error.as_dict()
    else:
        status, detail = 400, {"error": str(error)}
    # A 413 is answered before the body is read: the unread rest must not be taken for the
    # next request, so the connection is closed.
    await _error(send, status, detail, echo, close=status == 413)


async def _error(
    send: Send,
    status: int,
    detail: dict[str, Any],
    echo: list[tuple[bytes, bytes]],
    *,
    close: bool = False,
) -> None:
    headers = [*JSON_HEADERS, *echo]
    if close:  # the unread body must not be taken for the next request
        headers.append((b"connection", b"close"))
    await _respond(send, status, orjson.dumps(detail), headers)
