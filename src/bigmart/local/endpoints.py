"""Local real-time endpoints: CreateEndpoint, DescribeEndpoint, ListEndpoints, DeleteEndpoint
and the runtime's InvokeEndpoint (endpoint configs: ``endpoint_configs``; UpdateEndpoint:
``endpoint_updates``; a dead server started again: ``endpoint_revivals``).

An endpoint runs an endpoint config's model: here ``serve`` is started on a copy of the
model under ``<state>/endpoints/<name>/``, detached so it outlives the call (see
``endpoint_servers``). The endpoint is Creating until ``/ping`` answers, then InService, or
Failed with the reason whatever stops it (a bad model, ``serve`` exiting, a port in use,
Ctrl-C, SIGTERM, a bug; a creator killed outright is found gone by the next reader). As in
the SageMaker SDK's local mode, CreateEndpoint returns once the endpoint is in service.

InvokeEndpoint follows the record per call. Where nothing listens any more, the server died:
it is started again once and the call sent to it, as SageMaker replaces a failed instance
(see ``endpoint_revivals``). DeleteEndpoint refuses an endpoint still Creating or Updating, as
SageMaker does: the process creating or updating it would otherwise record it serving after
the delete, or leave a server running that no record names.

A DataCaptureConfig is honoured by ``serve`` itself (see ``data_capture``): the files are
SageMaker's, under the destination folder or ``s3://`` URI. Local differences: a deleted
endpoint's record is kept as history, Deleted; ``port`` and ``host`` choose where
``serve`` listens.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bigmart.contract import EndpointStatus, Env
from bigmart.local.data_capture import capture_status
from bigmart.local.endpoint_revivals import EndpointRevivals
from bigmart.local.endpoint_servers import EndpointServer, ModelError, start_server
from bigmart.local.endpoint_updates import START_ERRORS, without_times
from bigmart.local.engines import DEFAULT_IMAGE
from bigmart.local.jobs import ENDPOINT
from bigmart.local.lifecycle import Outcome, RequestRefused, job_lifecycle
from bigmart.local.requests import VARIANT, arn, time_of
from bigmart.local.server_process import LOOPBACK, ServerError

__all__ = ["SERVING", "EndpointServer", "LocalEndpoints", "ModelError"]

#: Endpoint statuses that hold the name: another endpoint cannot take it meanwhile.
LIVE = (EndpointStatus.CREATING, EndpointStatus.IN_SERVICE, EndpointStatus.UPDATING)
#: Endpoint statuses that answer InvokeEndpoint: an update keeps serving throughout.
SERVING = (EndpointStatus.IN_SERVICE, EndpointStatus.UPDATING)
#: Endpoint statuses DeleteEndpoint refuses: the process they name is changing the endpoint.
IN_PROGRESS = (EndpointStatus.CREATING, EndpointStatus.UPDATING)
#: The model environment variable that sets ``serve``'s worker count.
WORKERS_VARIABLE = Env.SAGEMAKER_MODEL_SERVER_WORKERS


class LocalEndpoints(EndpointRevivals):
    """SageMaker's endpoint calls, run on this machine (mixed into ``LocalSageMaker``)."""

    # -- endpoints -----------------------------------------------------------------------

    def create_endpoint(
        self, request: Mapping[str, Any], *, port: int | None = None, host: str = LOOPBACK
    ) -> dict[str, str]:
        """Start the endpoint and return once it is InService or Failed (read the status
        with ``describe_endpoint``). Local only: ``port`` (default: a free one) and the
        ``host`` address ``serve`` binds (default: this machine only)."""
        name = request["EndpointName"]
        config = self.describe_endpoint_config(request["EndpointConfigName"])
        (variant,) = config["ProductionVariants"]
        container = self.describe_model(variant["ModelName"])["PrimaryContainer"]
        existing = self.store.get(name, ENDPOINT)  # a killed creator's Creating is Failed by now
        if existing is not None and existing.kind != "endpoint":
            raise RequestRefused(
                f"the name {name!r} is taken by a {existing.kind} job; choose another"
            )
        if existing is not None and existing.status in LIVE:
            raise RequestRefused(
                f"Cannot create already existing endpoint {arn('endpoint', name)!r}."
            )
        parameters = {
            **request,
            "EndpointConfig": without_times(config),
            "PrimaryContainer": container,
        }
        with job_lifecycle(
            self.store,
            name,
            "endpoint",
            parameters,
            running=EndpointStatus.CREATING,
            stopped=EndpointStatus.FAILED,
            replace=existing is not None,
        ) as outcome:
            self._start_server(name, container, outcome, port=port, host=host, config=config)
        return {"EndpointArn": arn("endpoint", name)}

    def _start_server(
        self,
        name: str,
        container: Mapping[str, Any],
        outcome: Outcome,
        *,
        port: int | None,
        host: str,
        config: Mapping[str, Any],
    ) -> None:
        """The endpoint's first server; a start that fails says what to fix as it is."""
        try:
            server = start_server(
                self.store.home / "endpoints" / name,
                container,
                engine=self.engine,
                port=port,
                host=host,
                capture=self._capture(name, config),
            )
        except START_ERRORS as error:
            outcome.fail(str(error))
            return
        outcome.status = EndpointStatus.IN_SERVICE
        outcome.artifacts = server.artifacts()

    def describe_endpoint(self, EndpointName: str) -> dict[str, Any]:
        record = self._endpoint_record(EndpointName)
        parameters = record.parameters
        config = parameters.get("EndpointConfig") or {}
        answer: dict[str, Any] = {
            "EndpointName": record.name,
            "EndpointArn": arn("endpoint", record.name),
            "EndpointConfigName": parameters.get("EndpointConfigName", record.name),
            "EndpointStatus": record.status,
            "CreationTime": time_of(record.created),
            "LastModifiedTime": time_of(record.modified or record.ended or record.created),
        }
        if record.status in SERVING:
            image = (parameters.get("PrimaryContainer") or {}).get("Image") or DEFAULT_IMAGE
            answer["ProductionVariants"] = [
                {
                    "VariantName": variant.get("VariantName", VARIANT),
                    "DeployedImages": [{"SpecifiedImage": image, "ResolvedImage": image}],
                    "CurrentWeight": variant.get("InitialVariantWeight", 1.0),
                    "DesiredWeight": variant.get("InitialVariantWeight", 1.0),
                    "CurrentInstanceCount": 1,  # one local server, whatever was asked
                    "DesiredInstanceCount": variant.get("InitialInstanceCount", 1),
                }
                for variant in config.get("ProductionVariants") or [{}]
            ]
        capture = config.get("DataCaptureConfig")
        if capture:
            answer["DataCaptureConfig"] = capture_status(capture)
        if record.failure_reason and record.status != EndpointStatus.DELETED:
            answer["FailureReason"] = record.failure_reason  # InService: an update failed
        return answer

    def list_endpoints(
        self,
        *,
        SortOrder: str = "Descending",
        NameContains: str | None = None,
        StatusEquals: str | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        """Every endpoint by creation time (newest first, as SageMaker sorts by default)."""
        records = [
            self._endpoint_record(record.name) if record.owner_gone else record
            for record in self.store.list("endpoint")
        ]
        records = [
            record
            for record in records
            if (NameContains is None or NameContains in record.name)
            and (StatusEquals is None or record.status == StatusEquals)
        ]
        if SortOrder != "Ascending":
            records.reverse()
        return {
            "Endpoints": [
                {
                    "EndpointName": record.name,
                    "EndpointArn": arn("endpoint", record.name),
                    "CreationTime": time_of(record.created),
                    "LastModifiedTime": time_of(record.modified or record.ended or record.created),
                    "EndpointStatus": record.status,
                }
                for record in records
            ]
        }

    def delete_endpoint(self, EndpointName: str) -> dict[str, Any]:
        self.delete_local_endpoint(EndpointName)
        return {}

    def delete_local_endpoint(self, name: str) -> str:
        """DeleteEndpoint (its server is stopped, drained first), returning what became of
        a server that could not simply be stopped ("" when it was). Refused while the
        endpoint is Creating or Updating (see the module's docstring)."""
        with self.store.locked(name):
            record = self._endpoint_record(name)
            if record.status in IN_PROGRESS:
                raise RequestRefused(
                    f"Cannot delete endpoint {name!r} while it is {record.status}."
                )
            server = EndpointServer.recorded(record.artifacts)
            note = server.stop() if server is not None else ""
            self.store.update(name, kind=ENDPOINT, status=EndpointStatus.DELETED, ended=True)
        return note

    # -- local only ----------------------------------------------------------------------

    def endpoint_server(self, EndpointName: str) -> EndpointServer | None:
        """Where the endpoint's server listens (kept after it ends), None if it had none."""
        return EndpointServer.recorded(self._endpoint_record(EndpointName).artifacts)

    def invoke_endpoint(
        self,
        EndpointName: str,
        Body: bytes,
        ContentType: str = "text/csv",
        Accept: str = "text/csv",
        CustomAttributes: str | None = None,
    ) -> dict[str, Any]:
        """SageMaker runtime's InvokeEndpoint on a local endpoint. The model's error
        answer raises ``ModelError``; a server that does not answer, even started again,
        ``ServerError``."""
        revived = False
        while True:
            record = self._endpoint_record(EndpointName)
            server = EndpointServer.recorded(record.artifacts)
            if record.status not in SERVING or server is None:
                raise RequestRefused(f"endpoint {EndpointName!r} is {record.status}")
            try:
                payload, content_type, attributes = server.invoke(
                    Body, ContentType, Accept, CustomAttributes
                )
                break
            except OSError as error:
                # An update may have switched servers since the record was read: the old
                # one stops taking connections once drained, so the call goes to its successor.
                if self._successor(EndpointName, server) is not None:
                    continue
                # Nothing listens where the record says: the server died. It is started
                # again, once; a slow answer (a timeout) is not a dead server.
                if isinstance(error, ConnectionError) and not revived:
                    revived = True
                    self.revive_endpoint(EndpointName)
                    continue
                raise ServerError(
                    f"endpoint {EndpointName!r} does not answer ({error}); its log: {server.log}"
                ) from None
        answer = {"Body": payload, "ContentType": content_type, "InvokedProductionVariant": VARIANT}
        if attributes is not None:
            answer["CustomAttributes"] = attributes
        return answer

    def _successor(self, name: str, server: EndpointServer) -> EndpointServer | None:
        """The server that now serves endpoint ``name`` in place of ``server``, if any."""
        record = self._endpoint_record(name)
        current = EndpointServer.recorded(record.artifacts)
        if record.status in SERVING and current is not None and current != server:
            return current
        return None
