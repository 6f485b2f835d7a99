"""How ``bigmart api`` speaks HTTP: ``serve``'s guarded protocol, with the api's limits.

uvicorn's own httptools protocol bounds neither a request head (one header of 32 MB took
2 s and 63 MB, growing quadratically) nor the time a head or body may take, nor how many
connections a client holds. The api is reached by whoever can reach its address (another
user of a shared machine, or a network with ``--host``), so it sheds a hostile client as
``serve`` does: a head over 32 KiB is 431, a stalled head or body 408, bodies past the
budget 503, and idle connections are capped; the other clients go on being answered.
"""

from __future__ import annotations

from bigmart.api.runtime import MAX_BODY_BYTES
from bigmart.container.protocol import GuardedHttpToolsProtocol, WorkerGuard, within_open_files
from bigmart.container.settings import ConnectionLimits

#: How long an idle client connection is kept. uvicorn's default, 5 s, is what SDK clients
#: wait between polls (DescribeTrainingJob, GetLogEvents): the server closed a connection
#: just as the client sent its next request on it, and boto3 saw "Connection was closed
#: before we received a valid response". AWS's own front ends keep idle connections longer.
KEEPALIVE_SECONDS = 75


def guarded_protocol(limits: ConnectionLimits | None = None) -> type[GuardedHttpToolsProtocol]:
    """The protocol class for uvicorn's ``http=``: ``limits`` (serve's defaults, with the
    api's keep-alive) for every connection, and InvokeEndpoint's payload limit as the
    largest body a request may declare."""
    limits = within_open_files(limits or ConnectionLimits(keepalive=KEEPALIVE_SECONDS))
    guard = WorkerGuard(limits, MAX_BODY_BYTES)
    return type("ApiHttpProtocol", (GuardedHttpToolsProtocol,), {"guard": guard})
