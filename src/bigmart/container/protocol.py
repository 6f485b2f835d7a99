"""uvicorn's httptools protocol with the limits a public endpoint needs.

uvicorn bounds none of these on its httptools protocol: a request head may be of any size
(and httptools joins a header split over many reads in quadratic time), a head or a body
may take for ever, a new connection that sends nothing stays open, and any number of
connections and bodies may be held at once. Each connection here is in one phase:

- IDLE: waiting for a request (since it opened or since its last response); closed after
  ``keepalive`` seconds, or earlier, oldest first, when the worker is at its connection cap;
- HEAD: a request's first byte has come; its head must end within ``header_timeout`` and
  ``max_head_bytes`` (else 408 / 431);
- BODY: the head is complete, the body is coming: silence longer than ``body_timeout``, or
  an average below ``body_min_rate`` after that grace, is answered 408. A body of
  ``SMALL_BODY`` bytes or more reserves its size from the worker's ``body_buffer_bytes``
  until it is complete; one that would pass it is answered 503 with Retry-After;
- BUSY: the request is complete and the app is answering it: no deadline here (gunicorn's
  worker timeout covers a stuck worker).

Deadlines are checked by one sweep a second per worker, not by a timer per request, so a
one-row request pays a few attribute writes. A refusal is written by the protocol itself,
then the connection's write side is shut and what the client still sends is read and
dropped for ``LINGER_SECONDS``: closing with unread data would send a reset that can
destroy the answer before the client reads it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import resource
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from bigmart.container.settings import (
    CUSTOM_ATTRIBUTES,
    ConnectionLimits,
    payload_too_large,
)

IDLE, HEAD, BODY, BUSY, DRAINING = range(5)
#: Bodies under this size never wait for the body budget: they fit in one or two reads,
#: and a one-row request must not be refused because others are uploading.
SMALL_BODY = 16 * 1024
#: How long a refused connection's further input is read and dropped before closing.
LINGER_SECONDS = 1.0
RETRY_AFTER_SECONDS = 1
#: File descriptors kept free of client connections: the listening socket, the model's
#: files, logs, a master's pipes.
RESERVED_FILES = 64
#: A sweep that starts this much later than planned means the event loop was blocked
#: (e.g. scoring a large batch): that time is not counted against the clients.
LAG_TOLERANCE = 0.5

log = logging.getLogger("bigmart.serve")


class _Unawaited:
    """An event no one waits for."""

    def set(self) -> None:
        return None


class _AnsweredCycle:
    """Stands in for uvicorn's request cycle when the protocol has answered a request
    itself: the parser's remaining callbacks for that request then change nothing."""

    response_complete = True
    response_started = True
    disconnected = True
    message_event = _Unawaited()


ANSWERED = _AnsweredCycle()


def within_open_files(limits: ConnectionLimits) -> ConnectionLimits:
    """``limits`` with the connection cap kept under this process's open-files limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and limits.max_connections > soft - RESERVED_FILES:
        limits = dataclasses.replace(limits, max_connections=max(2, soft - RESERVED_FILES))
    return limits


class WorkerGuard:
    """One worker's shared state: the body budget and the deadline sweep."""

    def __init__(self, limits: ConnectionLimits, max_body_bytes: int | None) -> None:
        self.limits = limits
        self.max_body_bytes = max_body_bytes
        self.buffered = 0  # bytes reserved by bodies being received
        self.sweeping = False
        self.interval = min(1.0, limits.header_timeout / 4, limits.body_timeout / 4)
        self.last_sweep = 0.0

    def reserve(self, size: int) -> bool:
        """Take ``size`` bytes of the body budget; one body is always admitted."""
        if self.buffered and self.buffered + size > self.limits.body_buffer_bytes:
            return False
        self.buffered += size
        return True

    def release(self, size: int) -> None:
        self.buffered -= size

    def start(self, loop: asyncio.AbstractEventLoop, connections: set[Any]) -> None:
        if not self.sweeping:
            self.sweeping = True
            self.last_sweep = loop.time()
            loop.call_later(self.interval, self.sweep, loop, connections)

    def sweep(self, loop: asyncio.AbstractEventLoop, connections: set[Any]) -> None:
        now = loop.time()
        lag = now - self.last_sweep - self.interval
        stalled = lag if lag > LAG_TOLERANCE else 0.0
        step = now - self.last_sweep - stalled
        self.last_sweep = now
        loop.call_later(self.interval, self.sweep, loop, connections)  # first: whatever happens
        for connection in list(connections):
            if isinstance(connection, GuardedHttpToolsProtocol):
                connection.check_deadline(now, stalled, step)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` with deadlines, a head size limit, a body budget and a
    connection cap; the worker sets ``guard`` on a subclass of its own."""

    guard: WorkerGuard

    # -- connection ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.phase = IDLE
        self.since = self.loop.time()
        self.received = 0  # head bytes in HEAD, body bytes in BODY
        self.reserved = 0  # body budget held by this connection
        self.heard = 0  # ``received`` at the last sweep, to see silence
        self.silent = 0.0
        self.messages = 0  # heads begun, to tell which head a 431 is about
        guard = self.guard
        guard.start(self.loop, self.connections)
        if len(self.connections) > guard.limits.max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.reserved:
            self.guard.release(self.reserved)
            self.reserved = 0
        self.phase = DRAINING
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        phase = self.phase
        if phase == BODY:
            self.received += len(data)
        elif phase == DRAINING:
            return
        else:  # this data continues a head, or starts one
            used = self.received if phase == HEAD else 0
            if used + len(data) > self.guard.limits.max_head_bytes:
                self._receive_past_head_limit(data, used)
                return
            self.received = used + len(data)
        super().data_received(data)

    # -- parser callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.messages += 1
        if self.phase != DRAINING:
            self.phase = HEAD
            self.since = self.loop.time()

    def on_headers_complete(self) -> None:
        if self.phase == DRAINING:
            return
        size = self._declared_body_size()
        limit = self.guard.max_body_bytes
        if limit is not None and size > limit:
            # Answered here, not by the app: the refusal lingers, reading what the client
            # still sends, so its 413 is not destroyed by a reset (closing with unread data).
            self.cycle = self._refuse(413, payload_too_large(limit), echo=CUSTOM_ATTRIBUTES)
            return
        if size >= SMALL_BODY:
            if not self.guard.reserve(size):
                self.cycle = self._refuse(
                    503,
                    "the server is receiving too many request bodies at once; "
                    f"retry in {RETRY_AFTER_SECONDS} s",
                    retry_after=True,
                )
                return
            self.reserved = size
        self.phase = BODY
        self.since = self.loop.time()
        self.received = self.heard = 0
        self.silent = 0.0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if self.phase == BODY:
            self.phase = BUSY
            if self.reserved:
                self.guard.release(self.reserved)
                self.reserved = 0

    def on_response_complete(self) -> None:
        if self.phase == BUSY and not self.pipeline:
            self.phase = IDLE
            self.since = self.loop.time()
        super().on_response_complete()

    # -- limits -------------------------------------------------------------------------

    def check_deadline(self, now: float, stalled: float, step: float) -> None:
        """Called by the sweep: close this connection if it is past a deadline."""
        phase = self.phase
        limits = self.guard.limits
        if phase == IDLE:
            if now - self.since > limits.keepalive:
                self.transport.close()
        elif phase == HEAD:
            self.since += stalled
            if now - self.since > limits.header_timeout:
                self._refuse(408, f"the request head did not arrive in {limits.header_timeout:g} s")
        elif phase == BODY:
            if stalled or self.flow.read_paused:  # waiting on this server, not the client
                self.since += stalled or step
                self.silent = 0.0
                return
            self.silent = 0.0 if self.received != self.heard else self.silent + step
            self.heard = self.received
            late = now - self.since - limits.body_timeout
            if self.silent > limits.body_timeout or (
                late > 0 and self.received < limits.body_min_rate * late
            ):
                self._refuse(
                    408,
                    f"the request body stalled ({self.received} bytes in "
                    f"{now - self.since:.1f} s; expected at least "
                    f"{limits.body_min_rate // 1024} KiB/s after {limits.body_timeout:g} s)",
                )

    def _receive_past_head_limit(self, data: bytes, used: int) -> None:
        """Feed only what fits in the head limit; refuse with 431 if the head goes on."""
        before, begun = self.phase, self.messages
        room = self.guard.limits.max_head_bytes - used
        self.received = used + room
        if room > 0:
            super().data_received(data[:room])
        if self.phase == DRAINING or self.transport.is_closing():
            return
        if self.phase == HEAD:
            started = self.messages - begun
            if started == 0 or (started == 1 and before == IDLE):
                limit_kb = self.guard.limits.max_head_bytes // 1024
                self._refuse(431, f"the request head is over {limit_kb} KiB; send fewer headers")
                return
            self.received = 0  # a pipelined head began inside the slice: count it afresh
        self.data_received(data[room:])

    def _declared_body_size(self) -> int:
        for name, value in self.headers:
            if name == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return 0  # the app answers 400
            if name == b"transfer-encoding":  # size unknown: assume the payload limit
                limit = self.guard.max_body_bytes  # (unlimited in batch: a quarter budget)
                return limit if limit is not None else self.guard.limits.body_buffer_bytes // 4
        return 0

    def _make_room(self) -> None:
        """At the connection cap: close the connection waiting longest, idle ones first
        (never one whose request is being answered), or else this new one."""
        victim = None
        for connection in self.connections:
            if connection is self or not isinstance(connection, GuardedHttpToolsProtocol):
                continue
            if connection.phase < BUSY and (
                victim is None
                or (connection.phase, connection.since) < (victim.phase, victim.since)
            ):
                victim = connection
        if victim is None:
            self.transport.close()
        elif victim.phase == IDLE:
            victim.transport.close()
        else:
            victim._refuse(503, "the server is at its connection limit", retry_after=True)

    def _refuse(
        self, status: int, reason: str, *, retry_after: bool = False, echo: bytes | None = None
    ) -> _AnsweredCycle:
        """Answer ``status`` and close, if no other response is on this connection;
        returns the stand-in for the refused request's cycle."""
        cycle = self.cycle
        if self.phase == BODY and cycle is not None and not cycle.response_complete:
            if cycle.response_started or self.pipeline:
                self.transport.close()  # an answer is already on the wire
                return ANSWERED
            cycle.disconnected = True  # the app stops waiting for this body
            cycle.message_event.set()
        elif cycle is not None and not cycle.response_complete:  # a pipelined request
            cycle.disconnected = True
            cycle.message_event.set()
            self.transport.close()
            return ANSWERED
        if self.reserved:
            self.guard.release(self.reserved)
            self.reserved = 0
        log.warning("answered %d to %s: %s", status, _client(self.client), reason)
        body, content_type = self.refusal(status, reason)
        head = [
            STATUS_LINE[status],
            b"content-type: %s\r\n" % content_type,
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n",
        ]
        if retry_after:
            head.append(b"retry-after: %d\r\n" % RETRY_AFTER_SECONDS)
        if echo is not None:  # e.g. SageMaker's CustomAttributes, as the app echoes it
            head.extend(
                b"%s: %s\r\n" % (name, value) for name, value in self.headers if name == echo
            )
        self.transport.write(b"".join([*head, b"\r\n", body]))
        self._linger()
        return ANSWERED

    def refusal(self, status: int, reason: str) -> tuple[bytes, bytes]:
        """The body and content type of a refusal this protocol writes itself: the
        server's error format (a subclass may speak another, as the api speaks AWS's)."""
        return orjson.dumps({"error": reason}), b"application/json"

    def _linger(self) -> None:
        self.phase = DRAINING
        transport = self.transport
        if self.flow is not None:
            self.flow.resume_reading()
        try:
            transport.write_eof()
        except (NotImplementedError, RuntimeError, OSError):
            transport.close()
            return
        self.loop.call_later(LINGER_SECONDS, transport.close)


def _client(address: Any) -> str:
    return f"{address[0]}:{address[1]}" if address else "a client"
