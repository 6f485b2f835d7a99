"""How ``bigmart api`` speaks HTTP: ``serve``'s guarded protocol, with the api's limits.

uvicorn's own httptools protocol bounds neither a request head (one header of 32 MB took
2 s and 63 MB, growing quadratically) nor the time a head or body may take, nor how many
connections a client holds. The api is reached by whoever can reach its address (another
user of a shared machine, or a network with ``--host``), so it sheds a hostile client as
``serve`` does: a head over 32 KiB is 431, a body declared over 16 MiB 413, a stalled head
or body 408, bodies past the budget 503, and idle connections are capped; the other
clients go on being answered.
"""

from __future__ import annotations

import json

from bigmart.api.app import JSON_1_1, MAX_CONTROL_BYTES
from bigmart.api.errors import ApiError
from bigmart.api.runtime import MAX_BODY_BYTES
from bigmart.container.protocol import GuardedHttpToolsProtocol, WorkerGuard, within_open_files
from bigmart.container.settings import ConnectionLimits
from bigmart.contract import MIB

#: How long an idle client connection is kept. uvicorn's default, 5 s, is what SDK clients
#: wait between polls (DescribeTrainingJob, GetLogEvents): the server closed a connection
#: just as the client sent its next request on it, and boto3 saw "Connection was closed
#: before we received a valid response". AWS's own front ends keep idle connections longer.
KEEPALIVE_SECONDS = 75
#: The largest body any request may declare: the larger of the two planes' limits.
MAX_REQUEST_BYTES = max(MAX_CONTROL_BYTES, MAX_BODY_BYTES)


#: The AWS error code of each refusal the protocol writes itself; botocore retries a
#: throttled call on its own.
REFUSAL_CODES = {
    408: "RequestTimeoutException",
    413: "413",  # as the app's own 413 (``runtime.too_large``)
    431: "ValidationException",
    503: "ThrottlingException",
}


class ApiHttpProtocol(GuardedHttpToolsProtocol):
    """The guarded protocol, refusing in AWS's JSON error shape (``ApiError``), so boto3
    raises a ``ClientError`` with a code and a message, as for the app's own errors."""

    def refusal(self, status: int, reason: str) -> tuple[bytes, bytes]:
        if status == 413:
            reason = (
                f"the request body is {self._declared_body_size():,} bytes; this server "
                f"takes at most {MAX_REQUEST_BYTES:,} ({MAX_REQUEST_BYTES // MIB} MiB)"
            )
        error = ApiError(REFUSAL_CODES.get(status, "ServiceUnavailable"), reason, status)
        return json.dumps(error.body()).encode(), JSON_1_1.encode()


def guarded_protocol(limits: ConnectionLimits | None = None) -> type[ApiHttpProtocol]:
    """The protocol class for uvicorn's ``http=``: ``limits`` (serve's defaults, with the
    api's keep-alive) for every connection, and no body declared over ``MAX_REQUEST_BYTES``
    (the app holds each operation to its own limit, InvokeEndpoint's 6 MiB included)."""
    limits = within_open_files(limits or ConnectionLimits(keepalive=KEEPALIVE_SECONDS))
    guard = WorkerGuard(limits, MAX_REQUEST_BYTES)
    return type("GuardedApiHttpProtocol", (ApiHttpProtocol,), {"guard": guard})
