"""The plan of a transform: the job's options resolved against the server's
``/execution-parameters`` and SageMaker's defaults.

The fields keep ``TransformOptions``' names (SageMaker's CreateTransformJob names, in snake
case), so one option has one spelling from the command line to the client. Only the JSONPath
filters change form: they are compiled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bigmart.codecs import media_type
from bigmart.contract import (
    INPUT,
    MIB,
    REALTIME_MAX_PAYLOAD_MB,
    BatchStrategy,
    batch_strategy_from_env,
)
from bigmart.local.transform.jsonpath import Step, compile_path
from bigmart.local.transform.options import TransformOptions

#: SageMaker's defaults, when neither the job nor ``/execution-parameters`` names a value.
DEFAULT_MAX_PAYLOAD_MB = REALTIME_MAX_PAYLOAD_MB
DEFAULT_MAX_CONCURRENT_TRANSFORMS = 1


@dataclass(frozen=True)
class Plan:
    """The effective settings: job options, then the server's, then SageMaker's defaults."""

    content_type: str  # a media type, without parameters
    accept: str | None
    split_type: str  # LINE or "None"
    batch_strategy: str  # BatchStrategy.MULTI_RECORD or "SingleRecord"
    max_payload_mb: int  # 0: unbounded
    max_concurrent_transforms: int  # at least 1
    assemble_with: str  # LINE or "None"
    join_source: str  # INPUT or "None"
    input_filter: Step | None  # None: "$", the whole record
    output_filter: Step | None
    compression_type: str  # "Gzip" or "None"

    @property
    def max_payload_bytes(self) -> int | None:
        """The payload limit in bytes; None when MaxPayloadInMB=0 (unbounded)."""
        return self.max_payload_mb * MIB if self.max_payload_mb else None

    @property
    def per_record(self) -> bool:
        """Whether records must be handled one by one (filters, joins, SingleRecord);
        otherwise whole blocks of lines are sent as they are, which is several times
        faster."""
        return (
            self.input_filter is not None
            or self.join_source == INPUT
            or self.batch_strategy != BatchStrategy.MULTI_RECORD
        )

    @property
    def described(self) -> dict[str, Any]:
        """The settings the server could have chosen, by their SageMaker names (for the
        job's log and report)."""
        return {
            "BatchStrategy": self.batch_strategy,
            "MaxPayloadInMB": self.max_payload_mb,
            "MaxConcurrentTransforms": self.max_concurrent_transforms,
        }

    @property
    def settings_line(self) -> str:
        """The described settings for the job's log, saying what MaxPayloadInMB=0 means."""
        return ", ".join(
            f"{key}={value}"
            + (" (no payload limit)" if key == "MaxPayloadInMB" and not value else "")
            for key, value in self.described.items()
        )

    @classmethod
    def resolve(cls, options: TransformOptions, server: dict[str, Any]) -> Plan:
        """``server`` is the ``/execution-parameters`` answer (empty if it gave none)."""
        # ``/execution-parameters`` spells BatchStrategy as the container's environment does.
        strategy = (
            options.batch_strategy
            or batch_strategy_from_env(server.get("BatchStrategy", ""))
            or BatchStrategy.DEFAULT
        )
        payload_mb = options.max_payload_mb
        if payload_mb is None:
            payload_mb = int(server.get("MaxPayloadInMB", DEFAULT_MAX_PAYLOAD_MB))
        concurrency = options.max_concurrent_transforms or int(
            server.get("MaxConcurrentTransforms", DEFAULT_MAX_CONCURRENT_TRANSFORMS)
        )
        return cls(
            content_type=media_type(options.content_type),
            accept=options.accept,
            split_type=options.split_type,
            batch_strategy=strategy,
            max_payload_mb=payload_mb,
            max_concurrent_transforms=max(1, concurrency),
            assemble_with=options.assemble_with,
            join_source=options.join_source,
            input_filter=_compiled(options.input_filter),
            output_filter=_compiled(options.output_filter),
            compression_type=options.compression_type,
        )


def _compiled(path: str) -> Step | None:
    # TransformOptions has already refused a filter that does not compile.
    return None if path.strip() == "$" else compile_path(path)
