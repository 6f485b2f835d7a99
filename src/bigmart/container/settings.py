"""Serving settings from the environment variables SageMaker and AWS's containers use."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from bigmart.contract import (
    DEFAULT_ENV_BATCH_STRATEGY,
    DEFAULT_PORT,
    DEFAULT_TIMEOUT_SECONDS,
    ENV_BATCH_STRATEGIES,
    KIB,
    MAX_PAYLOAD_MB,
    MIB,
    REALTIME_MAX_PAYLOAD_MB,
    Env,
)


@dataclass(frozen=True)
class ConnectionLimits:
    """What one worker grants a client connection before shedding it (``BIGMART_*``).

    The defaults keep every legitimate client far from a limit: SageMaker's front end
    sends whole requests over the instance's network (a 6 MiB body in well under a
    second), so a client that is slower than this is stalled or hostile.
    """

    #: Idle keep-alive connections are closed after this; longer than the SageMaker load
    #: balancer's own idle timeout (60 s), so the server never closes a connection the
    #: proxy is about to reuse (a source of 502s in batch).
    keepalive: float = 75.0
    #: From a request's first byte to the end of its head (a head is at most
    #: ``max_head_bytes``, milliseconds of transfer; 10 s leaves room for TCP
    #: retransmissions, whose first five add up to ~6 s).
    header_timeout: float = 10.0
    #: Longest silence while a body is received, and the grace before the minimum
    #: rate applies.
    body_timeout: float = 10.0
    #: After the grace a body must have arrived at this average rate (256 KiB/s, 2 Mbit/s:
    #: a 6 MiB body may take 34 s, a 100 MB batch body 400 s).
    body_min_rate: int = 256 * KIB
    #: Request line and headers together; SageMaker's own headers are a few hundred bytes
    #: (custom attributes at most 1 KB).
    max_head_bytes: int = 32 * KIB
    #: Bytes of request bodies that may be in flight (being received) in one worker at
    #: once; a body that would pass it is refused with 503 and Retry-After. Bodies under
    #: ``SMALL_BODY`` are exempt, and one body is always admitted whatever its size.
    body_buffer_bytes: int = 64 * MIB
    #: Open connections per worker; at the cap the oldest idle one is closed for a new
    #: one. Kept well below the open-files limit (raised to its hard limit at start-up).
    max_connections: int = 1000

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ConnectionLimits:
        env = os.environ if environ is None else environ
        return cls(
            keepalive=_integer(env, ("BIGMART_KEEPALIVE_TIMEOUT",), 75, 1, 3600),
            header_timeout=_integer(env, ("BIGMART_HEADER_TIMEOUT",), 10, 1, 3600),
            body_timeout=_integer(env, ("BIGMART_BODY_TIMEOUT",), 10, 1, 3600),
            body_min_rate=_integer(env, ("BIGMART_BODY_MIN_RATE_KB",), 256, 0, 10**6) * KIB,
            max_head_bytes=_integer(env, ("BIGMART_MAX_HEADER_KB",), 32, 1, 1024) * KIB,
            body_buffer_bytes=_integer(env, ("BIGMART_BODY_BUFFER_MB",), 64, 1, 10**5) * MIB,
            max_connections=_integer(env, ("BIGMART_MAX_CONNECTIONS",), 1000, 2, 10**6),
        )


#: SageMaker's CustomAttributes request header, echoed on every answer.
CUSTOM_ATTRIBUTES = b"x-amzn-sagemaker-custom-attributes"


def payload_too_large(limit_bytes: int) -> str:
    """The 413 message, one wording whether the size was declared or found while reading."""
    return (
        f"the request body is over the {limit_bytes // MIB} MiB payload limit; "
        "send fewer rows per request"
    )


@dataclass(frozen=True)
class ServingSettings:
    """Bind address, workers, timeout and payload limit of one ``serve`` process tree."""

    #: 0.0.0.0 as SageMaker requires in the image; local servers set BIGMART_BIND_HOST=127.0.0.1.
    host: str = "0.0.0.0"
    port: int = DEFAULT_PORT
    workers: int = 1
    timeout: int = DEFAULT_TIMEOUT_SECONDS
    batch: bool = False
    max_payload_mb: int = REALTIME_MAX_PAYLOAD_MB
    batch_strategy: str = DEFAULT_ENV_BATCH_STRATEGY  # as the container spells it
    limits: ConnectionLimits = ConnectionLimits()

    def payload_limit(self) -> str:
        """The limit as log lines say it: SageMaker's "MB" here are MiB, and 0 is none."""
        if self.max_payload_mb == 0:
            return "no payload limit"
        return f"payload limit {self.max_payload_mb} MiB"

    @property
    def max_body_bytes(self) -> int | None:
        """The request body limit; None is unbounded (MaxPayloadInMB=0 in batch)."""
        return None if self.max_payload_mb == 0 else self.max_payload_mb * MIB

    def execution_parameters(self) -> dict[str, object]:
        """What ``GET /execution-parameters`` answers to batch transform."""
        return {
            "MaxConcurrentTransforms": self.workers,
            "BatchStrategy": self.batch_strategy,
            "MaxPayloadInMB": self.max_payload_mb,
        }

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ServingSettings:
        """Read the settings; a malformed value is an error naming the variable."""
        env = os.environ if environ is None else environ
        batch = env.get(Env.SAGEMAKER_BATCH, "").strip().lower() == "true"
        payload = _integer(
            env, (Env.SAGEMAKER_MAX_PAYLOAD_IN_MB,), REALTIME_MAX_PAYLOAD_MB, 0, MAX_PAYLOAD_MB
        )
        strategy = env.get(Env.SAGEMAKER_BATCH_STRATEGY, DEFAULT_ENV_BATCH_STRATEGY).strip().upper()
        if strategy not in ENV_BATCH_STRATEGIES:
            raise ValueError(
                f"{Env.SAGEMAKER_BATCH_STRATEGY}={strategy!r}: expected "
                f"{' or '.join(ENV_BATCH_STRATEGIES)}"
            )
        host = env.get(Env.BIGMART_BIND_HOST, "").strip() or "0.0.0.0"
        if any(c.isspace() or c in "/,;" for c in host):
            raise ValueError(
                f"{Env.BIGMART_BIND_HOST}={host!r}: expected an IP address or host name"
            )
        return cls(
            host=host,
            port=_integer(env, (Env.SAGEMAKER_BIND_TO_PORT,), DEFAULT_PORT, 1, 65535),
            workers=_integer(env, Env.WORKERS, os.cpu_count() or 1, 1, 256),
            timeout=_integer(env, Env.TIMEOUT, DEFAULT_TIMEOUT_SECONDS, 1, 86400),
            batch=batch,
            # Real-time requests are capped by InvokeEndpoint at 6 MiB whatever is set;
            # batch transform passes its MaxPayloadInMB.
            max_payload_mb=payload if batch else REALTIME_MAX_PAYLOAD_MB,
            batch_strategy=strategy,
            limits=ConnectionLimits.from_environment(env),
        )


def _integer(
    env: Mapping[str, str], names: tuple[str, ...], default: int, low: int, high: int
) -> int:
    for name in names:
        raw = env.get(name, "").strip()
        if not raw:
            continue
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"{name}={raw!r}: expected an integer") from None
        if not low <= value <= high:
            raise ValueError(f"{name}={value}: expected {low} to {high}")
        return value
    return default
