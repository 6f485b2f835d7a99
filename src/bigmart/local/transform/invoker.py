"""The HTTP client of a transform: POSTs mini-batches to the server's ``/invocations``.

Transient failures (a worker dying, a connection reset, a 5xx) are retried up to 3 times,
as SageMaker's ``InvocationsMaxRetries``.
"""

from __future__ import annotations

import http.client
import threading
import time

from bigmart.codecs import CSV
from bigmart.local.transform.plan import Plan

MAX_RETRIES = 3
RETRY_STATUSES = frozenset({500, 502, 503, 504})


class Invoker:
    """POSTs to ``/invocations`` with one keep-alive connection per thread and retries."""

    def __init__(self, port: int, plan: Plan, timeout: float = 600.0) -> None:
        self.port = port
        self.plan = plan
        self.timeout = timeout
        self.local = threading.local()
        self.headers = {"Content-Type": plan.content_type}
        if plan.accept:
            self.headers["Accept"] = plan.accept
        self.retries = 0

    def invoke(self, body: bytes) -> tuple[int, str, bytes]:
        """``(status, content type, body)``; a transient failure is retried, then raised."""
        last = ""
        for attempt in range(MAX_RETRIES + 1):
            if attempt:
                self.retries += 1
                time.sleep(0.2 * 2 ** (attempt - 1))
            try:
                connection = self._connection()
                connection.request("POST", "/invocations", body=body, headers=self.headers)
                response = connection.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as error:
                self._reset()
                last = f"{type(error).__name__}: {error}"
                continue
            if response.status in RETRY_STATUSES:
                self._reset()
                last = f"HTTP {response.status}: {payload[:200]!r}"
                continue
            return response.status, response.getheader("Content-Type", CSV), payload
        raise ConnectionError(f"invocation failed after {MAX_RETRIES} retries ({last})")

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self.local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            self.local.connection = connection
        return connection

    def _reset(self) -> None:
        connection = getattr(self.local, "connection", None)
        if connection is not None:
            connection.close()
        self.local.connection = None
