"""How many instances this machine runs at once: ``bigmart api --max-instances``.

SageMaker refuses a Create call whose instances would take the account over its quota, with
ResourceLimitExceeded, and creates nothing. Here the quota is the machine's: the instances
in use are read from the job store (InProgress training and transform jobs by their
InstanceCount, live endpoints by their variants' InitialInstanceCount), so jobs that the
other ``bigmart`` commands run here count too, and jobs run on SageMaker do not.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from bigmart.api.errors import ApiError
from bigmart.contract import EndpointStatus, JobStatus
from bigmart.local.jobs import JobStore


def _cores() -> int:
    """The cores this process may run on (fewer than the machine's under a CPU set)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


#: Two instances per core: each job or endpoint is mostly one process, and many wait on
#: I/O; more than this and they slow each other down.
DEFAULT_MAX_INSTANCES = 2 * _cores()
#: The quota's name in the refusal, worded as SageMaker names its instance quotas.
LIMIT = "Number of instances across all training jobs, transform jobs and endpoints"
#: Statuses in which a record holds instances.
RUNNING = {
    "training": (JobStatus.IN_PROGRESS,),
    "transform": (JobStatus.IN_PROGRESS,),
    "endpoint": (EndpointStatus.CREATING, EndpointStatus.IN_SERVICE, EndpointStatus.UPDATING),
}


class Capacity:
    """The machine's instance limit over one job store."""

    def __init__(self, store: JobStore, limit: int = DEFAULT_MAX_INSTANCES) -> None:
        self.store = store
        self.limit = limit
        self._lock = threading.Lock()

    @contextmanager
    def claim(self, kind: str, parameters: Mapping[str, Any]) -> Iterator[None]:
        """Around a Create call until its record exists: refused with ResourceLimitExceeded
        if its instances would exceed the limit. One claim at a time, so two Create calls
        cannot both take the last instances."""
        with self._lock:
            used = self.in_use()
            delta = instances(kind, parameters)
            if used + delta > self.limit:
                raise ApiError(
                    "ResourceLimitExceeded",
                    f"The account-level service limit '{LIMIT}' is {self.limit} Instances, "
                    f"with current utilization of {used} Instances and a request delta of "
                    f"{delta} Instances. Stop a job or delete an endpoint, or start bigmart "
                    "api with a larger --max-instances.",
                )
            yield

    def in_use(self) -> int:
        """The instances of every record that runs on this machine now."""
        return sum(
            instances(record.kind, record.parameters)
            for record in self.store.list()
            if record.status in RUNNING[record.kind] and record.parameters.get("on") is None
        )


def instances(kind: str, parameters: Mapping[str, Any]) -> int:
    """How many instances a job's or endpoint's request (or record) asks for."""
    if kind == "training":
        config = parameters.get("ResourceConfig") or {}
        groups = config.get("InstanceGroups") or []
        if groups:
            return sum(_count(group.get("InstanceCount")) for group in groups)
        return _count(config.get("InstanceCount"))
    if kind == "transform":
        return _count((parameters.get("TransformResources") or {}).get("InstanceCount"))
    variants = (parameters.get("EndpointConfig") or {}).get("ProductionVariants") or []
    return sum(_count(variant.get("InitialInstanceCount")) for variant in variants)


def _count(value: Any) -> int:
    """An InstanceCount; one when not given (a serverless variant, an older record)."""
    return value if isinstance(value, int) and value > 0 else 1
