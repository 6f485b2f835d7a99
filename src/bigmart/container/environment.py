"""Serving settings from the environment variables SageMaker and AWS's containers use."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

MIB = 1024 * 1024
REALTIME_MAX_PAYLOAD_MB = 6  # InvokeEndpoint's own limit: 6 MiB


@dataclass(frozen=True)
class ServingSettings:
    """Port, workers, timeout and payload limit of one ``serve`` process tree."""

    port: int = 8080
    workers: int = 1
    timeout: int = 60
    batch: bool = False
    max_payload_mb: int = REALTIME_MAX_PAYLOAD_MB
    batch_strategy: str = "MULTI_RECORD"

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
        batch = env.get("SAGEMAKER_BATCH", "").strip().lower() == "true"
        payload = _integer(env, ("SAGEMAKER_MAX_PAYLOAD_IN_MB",), REALTIME_MAX_PAYLOAD_MB, 0, 100)
        strategy = env.get("SAGEMAKER_BATCH_STRATEGY", "MULTI_RECORD").strip().upper()
        if strategy not in ("MULTI_RECORD", "SINGLE_RECORD"):
            raise ValueError(
                f"SAGEMAKER_BATCH_STRATEGY={strategy!r}: expected MULTI_RECORD or SINGLE_RECORD"
            )
        return cls(
            port=_integer(env, ("SAGEMAKER_BIND_TO_PORT",), 8080, 1, 65535),
            workers=_integer(
                env,
                ("SAGEMAKER_MODEL_SERVER_WORKERS", "MODEL_SERVER_WORKERS"),
                os.cpu_count() or 1,
                1,
                256,
            ),
            timeout=_integer(
                env, ("SAGEMAKER_MODEL_SERVER_TIMEOUT", "MODEL_SERVER_TIMEOUT"), 60, 1, 86400
            ),
            batch=batch,
            # Real-time requests are capped by InvokeEndpoint at 6 MiB whatever is set;
            # batch transform passes its MaxPayloadInMB.
            max_payload_mb=payload if batch else REALTIME_MAX_PAYLOAD_MB,
            batch_strategy=strategy,
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
