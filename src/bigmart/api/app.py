"""The ASGI app of ``bigmart api``: one port, SageMaker's two planes.

- ``POST /`` with ``X-Amz-Target: SageMaker.<Op>``: the control plane (JSON 1.1);
- ``POST /`` with ``X-Amz-Target: Logs_20140328.<Op>``: CloudWatch Logs of local jobs;
- ``POST /endpoints/{EndpointName}/invocations``: the runtime's InvokeEndpoint.

A bare ASGI app, as the container's: the routing is two rules, and the work (the backend's
calls, which touch SQLite, processes and sockets) runs in a thread, so the event loop keeps
answering Describe calls and invocations while a Create or a Delete waits.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from bigmart.api import arns, shapes
from bigmart.api.capacity import DEFAULT_MAX_INSTANCES, Capacity
from bigmart.api.control import ControlPlane
from bigmart.api.errors import ApiError, internal, unknown_operation, validation
from bigmart.api.logs import LogsPlane
from bigmart.api.runtime import MAX_BODY_BYTES, Invocation, Runtime, too_large
from bigmart.api.workers import Workers
from bigmart.errors import BigmartError, UserError
from bigmart.local.jobs import JobStore
from bigmart.local.requests import ARN_PLACE
from bigmart.local.sagemaker import LocalSageMaker

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_1_1 = "application/x-amz-json-1.1"
INVOCATIONS = re.compile(r"/endpoints/(?P<name>[^/]+)/invocations")
#: A control-plane request is a few kilobytes; this only bounds a runaway body.
MAX_CONTROL_BYTES = 16 * 1024 * 1024


class Body(Exception):
    """A request body over its limit (its size so far)."""

    def __init__(self, size: int) -> None:
        self.size = size


def sagemaker_api(
    store: JobStore,
    engine: str = "process",
    *,
    account: str = arns.DEFAULT_ACCOUNT,
    max_instances: int = DEFAULT_MAX_INSTANCES,
) -> SageMakerApi:
    """The app over one job store: jobs run with ``engine`` in worker processes, at most
    ``max_instances`` at once; ARNs name ``account``."""
    backend = LocalSageMaker(store, engine=engine)
    workers = Workers(store.home, engine)
    control = ControlPlane(backend, workers, Capacity(store, max_instances))
    return SageMakerApi(control, Runtime(backend), workers, LogsPlane(store.home), account)


class SageMakerApi:
    """Routes each request to the control plane or the runtime; at start-up the runtime
    revives the endpoints whose server died, and at shutdown the workers are stopped (their
    jobs end Stopped, as with Ctrl-C on ``bigmart train``)."""

    def __init__(
        self,
        control: ControlPlane,
        runtime: Runtime,
        workers: Workers,
        logs: LogsPlane,
        account: str = arns.DEFAULT_ACCOUNT,
    ) -> None:
        self.control = control
        self.runtime = runtime
        self.workers = workers
        self.logs = logs
        self.account = account

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        ARN_PLACE.set(arns.place(headers, self.account))  # this request's task and threads
        invocation = INVOCATIONS.fullmatch(scope["path"])
        if scope["method"] == "POST" and invocation:
            await self.invoke(invocation["name"], headers, receive, send)
        elif scope["method"] == "POST" and scope["path"] == "/" and "x-amz-target" in headers:
            await self.operate(headers["x-amz-target"], receive, send)
        else:
            error = ApiError(
                "UnknownOperationException",
                f"{scope['method']} {scope['path']}: not a SageMaker API route (POST / with "
                "X-Amz-Target, or POST /endpoints/NAME/invocations)",
                404,
            )
            await _send_json(send, error.status, error.body(), JSON_1_1)

    async def operate(self, target: str, receive: Receive, send: Send) -> None:
        """One control-plane call: checked, run, answered in its output shape."""
        try:
            operation = shapes.operation(target)
            plane = self.logs if target.startswith("Logs_") else self.control
            if not plane.serves(operation.name):
                raise unknown_operation(target)
            raw = await _read_body(receive, MAX_CONTROL_BYTES)
            try:
                request = json.loads(raw or b"{}")
            except ValueError as error:
                raise ApiError("SerializationException", f"the body is not JSON: {error}") from None
            shapes.check_request(operation, request)
            answer = await asyncio.to_thread(plane.call, operation.name, request)
            status, body = 200, shapes.serialize(operation.output_shape, answer)
        except Body as error:
            status, body = 413, validation(f"the request body is over {error.size:,} bytes").body()
        except Exception as error:  # every failure is answered; a defect as InternalFailure
            refusal = _as_api_error(error)
            status, body = refusal.status, refusal.body()
        await _send_json(send, status, body, JSON_1_1)

    async def invoke(
        self, endpoint: str, headers: dict[str, str], receive: Receive, send: Send
    ) -> None:
        """InvokeEndpoint: the body and headers passed to the endpoint's ``serve``."""
        try:
            body = await _read_body(receive, MAX_BODY_BYTES)
            request = Invocation(
                endpoint=endpoint,
                body=body,
                content_type=headers.get("content-type", "application/octet-stream"),
                accept=headers.get("accept"),
                custom_attributes=headers.get("x-amzn-sagemaker-custom-attributes"),
            )
            answer = await asyncio.to_thread(self.runtime.invoke, request)
        except Body as error:
            await _send_error(send, too_large(error.size))
        except Exception as error:
            await _send_error(send, _as_api_error(error))
        else:
            await _send(send, 200, answer.body, list(answer.headers.items()))

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.runtime.start()  # endpoints whose server died, started again
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await asyncio.to_thread(self.workers.close)
                await asyncio.to_thread(self.runtime.close)
                await send({"type": "lifespan.shutdown.complete"})
                return


def _as_api_error(error: Exception) -> ApiError:
    """Any failure as SageMaker's answer: refusals are ValidationException."""
    if isinstance(error, ApiError):
        return error
    if isinstance(error, UserError):
        return validation(str(error))
    if isinstance(error, BigmartError | OSError):
        return internal(str(error))
    return internal(f"unexpected {type(error).__name__}: {error}")


async def _read_body(receive: Receive, limit: int) -> bytes:
    """The whole body; ``Body`` as soon as it is over ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise Body(size)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send_error(send: Send, error: ApiError) -> None:
    """A runtime (rest-JSON) error: botocore reads the code from the header or ``__type``."""
    await _send(
        send,
        error.status,
        json.dumps(error.body()).encode(),
        [("Content-Type", "application/json"), ("x-amzn-ErrorType", error.code)],
    )


async def _send_json(send: Send, status: int, body: Any, content_type: str) -> None:
    await _send(send, status, json.dumps(body).encode(), [("Content-Type", content_type)])


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    raw += [
        (b"x-amzn-requestid", str(uuid.uuid4()).encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
