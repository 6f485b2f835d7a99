"""Small pieces the subcommands share: the job store and job names."""

from __future__ import annotations

import time
import uuid

from bigmart.workflow.jobs import JobStore, state_home


def new_name(prefix: str) -> str:
    """A unique, sortable name in SageMaker's style."""
    return f"{prefix}-{time.strftime('%Y-%m-%d-%H-%M-%S')}-{uuid.uuid4().hex[:4]}"


def store() -> JobStore:
    return JobStore(state_home())
