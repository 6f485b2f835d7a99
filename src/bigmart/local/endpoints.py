"""Local real-time endpoints: CreateEndpointConfig, CreateEndpoint, Describe, Delete."""

from __future__ import annotations


class LocalEndpoints:
    """SageMaker's endpoint calls, run on this machine (mixed into ``LocalSageMaker``)."""
