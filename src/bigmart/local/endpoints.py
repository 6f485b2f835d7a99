"""Local real-time endpoints: CreateEndpoint, DescribeEndpoint, ListEndpoints, UpdateEndpoint,
DeleteEndpoint and the runtime's InvokeEndpoint (endpoint configs: ``endpoint_configs``).

An endpoint runs an endpoint config's model: here ``serve`` is started on a copy of the
model under ``<state>/endpoints/<name>/``, detached so it outlives the call (see
``endpoint_servers``). The endpoint is Creating until ``/ping`` answers, then InService, or
Failed with the reason whatever stops it (a bad model, ``serve`` exiting, a port in use,
Ctrl-C, SIGTERM, a bug; a creator killed outright is found gone by the next reader). As in
the SageMaker SDK's local mode, CreateEndpoint returns once the endpoint is in service.

UpdateEndpoint is SageMaker's blue/green update: the endpoint is Updating (and keeps
answering) while a second ``serve`` starts on the new config's model; once that answers
``/ping``, one write of the record names the new config and server (InvokeEndpoint reads it
per call, so traffic switches at once), then the old server is drained and stopped and the
endpoint is InService. If the new server cannot start, the old one never stopped serving:
the endpoint is InService on its old config again, with the FailureReason, as SageMaker
leaves an endpoint whose update failed and was rolled back.

Local differences: nothing is captured (DataCaptureConfig is kept, CaptureStatus Stopped);
a deleted endpoint's record is kept as history, Deleted; ``port`` and ``host`` choose where
``serve`` listens; an update's server listens on a new port of the same address (the
runtime and ``bigmart endpoint invoke`` follow the record, a client of the port does not).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bigmart.clipping import describe, one_line
from bigmart.contract import EndpointStatus, Env
from bigmart.errors import BigmartError
from bigmart.local.endpoint_configs import LocalEndpointConfigs
from bigmart.local.endpoint_servers import EndpointServer, ModelError
from bigmart.local.engines import DEFAULT_IMAGE, EngineError, serve_command
from bigmart.local.jobs import JobRecord
from bigmart.local.lifecycle import (
    Outcome,
    RequestRefused,
    interrupted,
    job_lifecycle,
    termination_raises,
    unexpected_failure,
)
from bigmart.local.requests import VARIANT, arn, time_of
from bigmart.local.server_process import (
    LOOPBACK,
    ModelServer,
    ServerError,
    free_port,
    materialize_model,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from bigmart.local.jobs import JobStore

__all__ = ["SERVING", "EndpointServer", "LocalEndpoints", "ModelError"]

#: The job store's kind of an endpoint's record.
ENDPOINT = "endpoint"
#: Endpoint statuses that hold the name: another endpoint cannot take it meanwhile.
LIVE = (EndpointStatus.CREATING, EndpointStatus.IN_SERVICE, EndpointStatus.UPDATING)
#: Endpoint statuses that answer InvokeEndpoint: an update keeps serving throughout.
SERVING = (EndpointStatus.IN_SERVICE, EndpointStatus.UPDATING)
#: Errors a new server's start ends with when the model, image or port is the problem.
START_ERRORS = (ServerError, EngineError)
#: The model environment variable that sets ``serve``'s worker count.
WORKERS_VARIABLE = Env.SAGEMAKER_MODEL_SERVER_WORKERS


class LocalEndpoints(LocalEndpointConfigs):
    """SageMaker's endpoint calls, run on this machine (mixed into ``LocalSageMaker``)."""

    store: JobStore
    engine: str
    echo: Callable[[str], None]

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
        existing = self.store.get(name, ENDPOINT)  # a killed creator's Creating is Failed
        if existing is not None and existing.status in LIVE:
            raise RequestRefused(
                f"Cannot create already existing endpoint {arn('endpoint', name)!r}."
            )
        parameters = {
            **request,
            "EndpointConfig": _without_times(config),
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
            self._start_server(name, container, outcome, port=port, host=host)
        return {"EndpointArn": arn("endpoint", name)}

    def _start_server(
        self,
        name: str,
        container: Mapping[str, Any],
        outcome: Outcome,
        *,
        port: int | None,
        host: str,
    ) -> None:
        """The endpoint's first server; a start that fails says what to fix as it is."""
        try:
            server = self._serve(self.store.home / "endpoints" / name, container, port, host)
        except START_ERRORS as error:
            outcome.fail(str(error))
            return
        outcome.status = EndpointStatus.IN_SERVICE
        outcome.artifacts = server.artifacts()

    def _serve(
        self, folder: Path, container: Mapping[str, Any], port: int | None, host: str
    ) -> EndpointServer:
        """Copy the model into ``folder``, start ``serve`` on it and wait for ``/ping``;
        whatever stops that stops a server already started."""
        shutil.rmtree(folder, ignore_errors=True)
        model_dir = folder / "model"
        materialize_model(container["ModelDataUrl"], model_dir)
        environment = {str(k): str(v) for k, v in (container.get("Environment") or {}).items()}
        image = container.get("Image") or DEFAULT_IMAGE
        port = port or free_port()
        server: ModelServer | None = None
        try:
            server = ModelServer(
                folder,
                port=port,
                host=host,
                environment=environment,
                command=serve_command(self.engine, image, model_dir, port, environment, host),
                log_path=folder / "serve.log",
                detached=True,
            )
            server.start()
            return EndpointServer.started(server, model_dir)
        except BaseException:
            if server is not None:
                server.stop()
            raise

    def update_endpoint(self, request: Mapping[str, Any]) -> dict[str, str]:
        """UpdateEndpoint, to its end (see the module's docstring): the endpoint is
        InService again when this returns, on the new config or, if its server could not
        start, on the old one with the FailureReason. Only an InService endpoint updates."""
        name = request["EndpointName"]
        record = self._endpoint_record(name)
        endpoint_arn = arn("endpoint", name)
        old = EndpointServer.recorded(record.artifacts)
        if record.status != EndpointStatus.IN_SERVICE or old is None:
            raise RequestRefused(
                f"Cannot update endpoint {endpoint_arn!r} while it is {record.status}."
            )
        config = self.describe_endpoint_config(request["EndpointConfigName"])
        (variant,) = config["ProductionVariants"]
        container = self.describe_model(variant["ModelName"])["PrimaryContainer"]
        parameters = {
            **record.parameters,
            "EndpointConfigName": request["EndpointConfigName"],
            "EndpointConfig": _without_times(config),
            "PrimaryContainer": container,
        }
        folder, host = self._other_folder(name, old), old.bind_host or old.host
        with termination_raises():
            new: EndpointServer | None = None
            try:
                self.store.update(name, kind=ENDPOINT, status=EndpointStatus.UPDATING)
                new = self._serve(folder, container, None, host)
                # One write: the new config and server together; traffic switches here.
                self.store.update(
                    name, kind=ENDPOINT, parameters=parameters, artifacts=new.artifacts()
                )
            except BaseException as error:
                # The old config and server again, whether or not the switch was written.
                self.store.update(
                    name,
                    kind=ENDPOINT,
                    status=EndpointStatus.IN_SERVICE,
                    parameters=record.parameters,
                    artifacts=record.artifacts,
                    failure_reason=one_line(f"the update failed: {self._reason(name, error)}"),
                )
                if new is not None:
                    new.stop()
                if not isinstance(error, Exception):
                    raise  # Ctrl-C or SIGTERM
                return {"EndpointArn": endpoint_arn}
            try:
                note = old.stop()  # SIGTERM: it drains what it was sent before the switch
                if note:
                    self.echo(f"endpoint {name}: {note}")
            finally:
                self.store.update(
                    name, kind=ENDPOINT, status=EndpointStatus.IN_SERVICE, failure_reason=""
                )
        return {"EndpointArn": endpoint_arn}

    def _other_folder(self, name: str, server: EndpointServer) -> Path:
        """Where an update puts the endpoint's next server: of its two folders, the one
        ``server`` does not run in (they take turns)."""
        base = self.store.home / "endpoints" / name
        current = Path(server.model_dir).parent if server.model_dir else base
        return base.with_name(f"{name}.next") if current == base else base

    def _reason(self, name: str, error: BaseException) -> str:
        """Why an update failed, in one line, as a job's failure is worded."""
        if isinstance(error, START_ERRORS):
            return str(error)  # says what to fix as it is
        if isinstance(error, BigmartError | OSError | ValueError):
            return describe(error)
        if isinstance(error, Exception):
            return unexpected_failure(self.store, name, error)
        return interrupted(error)

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
            "LastModifiedTime": time_of(record.ended or record.created),
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
            answer["DataCaptureConfig"] = {
                "EnableCapture": capture.get("EnableCapture", True),
                "CaptureStatus": "Stopped",  # nothing is captured locally
                "CurrentSamplingPercentage": capture.get("InitialSamplingPercentage", 100),
                "DestinationS3Uri": capture.get("DestinationS3Uri", ""),
            }
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
            record
            for record in self.store.list("endpoint")
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
                    "LastModifiedTime": time_of(record.ended or record.created),
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
        a server that could not simply be stopped ("" when it was)."""
        record = self._endpoint_record(name)
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
        answer raises ``ModelError``; a server that does not answer, ``ServerError``."""
        record = self._endpoint_record(EndpointName)
        server = EndpointServer.recorded(record.artifacts)
        if record.status not in SERVING or server is None:
            raise RequestRefused(f"endpoint {EndpointName!r} is {record.status}")
        try:
            payload, content_type, attributes = server.invoke(
                Body, ContentType, Accept, CustomAttributes
            )
        except OSError as error:
            # An update may have switched servers since the record was read: the old one
            # stops taking connections once drained, so the call goes to its successor.
            successor = self._successor(EndpointName, server)
            if successor is None:
                raise ServerError(
                    f"endpoint {EndpointName!r} does not answer ({error}); its log: {server.log}"
                ) from None
            return self.invoke_endpoint(EndpointName, Body, ContentType, Accept, CustomAttributes)
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

    def _endpoint_record(self, name: str) -> JobRecord:
        record = self.store.get(name, ENDPOINT)
        if record is None:
            raise RequestRefused(f"Could not find endpoint {name!r}.")
        return record


def _without_times(answer: Mapping[str, Any]) -> dict[str, Any]:
    """A Describe answer as a request again (to be kept as JSON)."""
    return {key: value for key, value in answer.items() if key != "CreationTime"}
