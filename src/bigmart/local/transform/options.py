"""Batch transform options, named and defaulted as SageMaker's CreateTransformJob names them.

One dataclass serves the local transform and the AWS one, so an option means the same
thing wherever the job runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from bigmart.codecs import CSV, media_type
from bigmart.contract import (
    ASSEMBLE_WITH,
    COMPRESSION_TYPES,
    INPUT,
    JOIN_SOURCES,
    LINE,
    NONE,
    SPLIT_TYPES,
    BatchStrategy,
)
from bigmart.local.transform.jsonpath import compile_path


@dataclass(frozen=True)
class TransformOptions:
    """A transform job's data options. ``None`` means: ask the server's
    ``/execution-parameters``, then fall back to SageMaker's default."""

    content_type: str = "text/csv"
    accept: str | None = None
    split_type: str = LINE
    batch_strategy: str | None = None  # MultiRecord when neither job nor server says
    max_payload_mb: int | None = None  # 6 when neither job nor server says; 0 = unbounded
    max_concurrent_transforms: int = 0  # 0 = ask the server
    assemble_with: str = LINE
    join_source: str = NONE
    input_filter: str = "$"
    output_filter: str = "$"
    compression_type: str = NONE

    def __post_init__(self) -> None:
        # Every mistake in the options themselves is refused here, before a job exists (a
        # usage error, as SageMaker's ValidationException); what depends on the data or on
        # the container (a filter that misfits a record, an Accept it refuses) fails the job.
        for name, allowed in (
            ("split_type", SPLIT_TYPES),
            ("assemble_with", ASSEMBLE_WITH),
            ("join_source", JOIN_SOURCES),
            ("compression_type", COMPRESSION_TYPES),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r}: expected one of {allowed}")
        if self.batch_strategy is not None and self.batch_strategy not in BatchStrategy.ALL:
            raise ValueError(
                f"batch_strategy={self.batch_strategy!r}: expected one of {BatchStrategy.ALL}"
            )
        if self.max_payload_mb is not None and not 0 <= self.max_payload_mb <= 100:
            raise ValueError(f"max_payload_mb={self.max_payload_mb}: expected 0 to 100")
        if self.join_source == INPUT and (self.split_type != LINE or self.assemble_with != LINE):
            raise ValueError(
                "join_source=Input needs split_type=Line and assemble_with=Line (one output "
                f"line per input record); got split_type={self.split_type}, "
                f"assemble_with={self.assemble_with}"
            )
        csv_joined = self.join_source == INPUT and media_type(self.content_type) == CSV
        if csv_joined and self.accept is not None and media_type(self.accept) != CSV:
            raise ValueError(
                "join_source=Input with text/csv input writes CSV rows (the input row, "
                f"then the prediction), as SageMaker does: accept={self.accept!r} cannot "
                "be joined; use text/csv"
            )
        for name in ("input_filter", "output_filter"):
            try:
                compile_path(getattr(self, name))  # a typo fails before any job starts
            except ValueError as error:
                raise ValueError(f"{name}: {error}") from None
        if self.max_concurrent_transforms < 0:
            raise ValueError("max_concurrent_transforms must be 0 (ask the server) or more")
        if (
            self.max_payload_mb
            and self.max_concurrent_transforms
            and self.max_payload_mb * self.max_concurrent_transforms > 100
        ):
            raise ValueError(
                "max_concurrent_transforms x max_payload_mb must not exceed 100 "
                f"(got {self.max_concurrent_transforms} x {self.max_payload_mb})"
            )
