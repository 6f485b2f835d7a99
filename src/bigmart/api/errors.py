"""SageMaker's error answers: a code botocore turns into ``ClientError``, a message, a status.

The control plane speaks AWS's JSON 1.1 protocol, whose errors are ``{"__type": code,
"message": ...}``; the runtime's rest-JSON errors carry the same two plus modeled fields
(ModelError's OriginalStatusCode, OriginalMessage). botocore reads the code from ``__type``
in both, so one class serves both planes.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An answer SageMaker would give instead of a result."""

    def __init__(self, code: str, message: str, status: int = 400, **fields: Any) -> None:
        self.code = code
        self.message = message
        self.status = status
        self.fields = fields
        super().__init__(f"{code}: {message}")

    def body(self) -> dict[str, Any]:
        return {"__type": self.code, "message": self.message, **self.fields}


def validation(message: str) -> ApiError:
    """ValidationException: the request is wrong (a field, a name, a missing resource)."""
    return ApiError("ValidationException", message)


def unknown_operation(target: str) -> ApiError:
    return ApiError(
        "UnknownOperationException",
        f"{target!r} is not an operation this server answers (X-Amz-Target: SageMaker.<Op>)",
    )


def internal(message: str) -> ApiError:
    """InternalFailure: the server, not the request, failed (a job store that cannot be
    written, a worker that died before the job's record existed)."""
    return ApiError("InternalFailure", message, 500)
