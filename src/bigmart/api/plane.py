"""What the control plane and CloudWatch Logs share: operations served by name."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from bigmart.api.errors import unknown_operation

Operation = Callable[[Mapping[str, Any]], dict[str, Any]]


class Plane:
    """A table of operations by their name in the service model; ``target`` is the
    ``X-Amz-Target`` prefix they are called with."""

    target: ClassVar[str]
    operations: dict[str, Operation]

    def serves(self, operation: str) -> bool:
        return operation in self.operations

    def call(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
        handler = self.operations.get(operation)
        if handler is None:
            raise unknown_operation(f"{self.target}.{operation}")
        return handler(request)
