"""UpdateEndpoint: SageMaker's blue/green update of a local endpoint, and its roll-back when
the process running it is killed outright.

The endpoint is Updating (and keeps answering) while a second ``serve`` starts on the new
config's model; once that answers ``/ping``, one write of the record names the new config
and server (InvokeEndpoint reads it per call, so traffic switches at once), then the old
server is drained and stopped and the endpoint is InService again (its LastModifiedTime the
update's end). If the new server cannot start, the old one never stopped serving: the
endpoint is InService on its old config again, with the FailureReason, as SageMaker leaves an
endpoint whose update failed and was rolled back. The new server listens on a new port of
the same address (the runtime and ``bigmart endpoint invoke`` follow the record, a client of
the port does not); the endpoint's two folders take turns.

While it is Updating, the record names the update's process as its owner and, beside the
server traffic goes to, the other one (``standby``: the new server from the moment its
process exists, the old one after the switch) with its config. An update killed outright
(SIGKILL, a power cut) can neither finish nor undo itself, so whoever reads the record next
and finds that process gone rolls it back: InService on the config whose server answers
(the one traffic goes to if both do, or if neither does: see ``endpoint_revivals``), with a
FailureReason, and the other server stopped.

Only an InService endpoint updates. The start of an update, a deletion, a revival and a
roll-back each hold the record's lock, so none of them acts on an endpoint another is
changing (a deletion refuses an Updating endpoint, as SageMaker does).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bigmart.clipping import describe, one_line
from bigmart.contract import EndpointStatus
from bigmart.errors import BigmartError
from bigmart.local.endpoint_configs import LocalEndpointConfigs
from bigmart.local.endpoint_servers import EndpointServer, start_server
from bigmart.local.engines import EngineError
from bigmart.local.jobs import ENDPOINT, JobRecord, owned_by_me, owner_gone_reason
from bigmart.local.lifecycle import (
    RequestRefused,
    interrupted,
    termination_raises,
    unexpected_failure,
)
from bigmart.local.requests import arn
from bigmart.local.server_process import ServerError

if TYPE_CHECKING:
    from collections.abc import Callable

    from bigmart.local.jobs import JobStore

#: Errors a new server's start ends with when the model, image or port is the problem.
START_ERRORS = (ServerError, EngineError)
#: The artifacts' key of the server an update keeps beside the one traffic goes to.
STANDBY = "standby"


class EndpointUpdates(LocalEndpointConfigs):
    """UpdateEndpoint, and reading an endpoint's record (part of ``LocalEndpoints``)."""

    store: JobStore
    engine: str
    echo: Callable[[str], None]

    def update_endpoint(self, request: Mapping[str, Any]) -> dict[str, str]:
        """UpdateEndpoint, to its end (see the module's docstring): the endpoint is
        InService again when this returns, on the new config or, if its server could not
        start, on the old one with the FailureReason. Only an InService endpoint updates."""
        name = request["EndpointName"]
        with termination_raises():
            record, parameters = self._begin_update(request)
            self._switch(name, record, parameters)
        return {"EndpointArn": arn("endpoint", name)}

    def _begin_update(self, request: Mapping[str, Any]) -> tuple[JobRecord, dict[str, Any]]:
        """Check the request and mark the endpoint Updating, owned by this process: its
        record as it was, and the new parameters (config and model)."""
        name = request["EndpointName"]
        with self.store.locked(name):
            record = self._endpoint_record(name)
            if record.status != EndpointStatus.IN_SERVICE or not _server(record.artifacts):
                raise RequestRefused(
                    f"Cannot update endpoint {arn('endpoint', name)!r} while it is {record.status}."
                )
            config = self.describe_endpoint_config(request["EndpointConfigName"])
            (variant,) = config["ProductionVariants"]
            container = self.describe_model(variant["ModelName"])["PrimaryContainer"]
            parameters = {
                **record.parameters,
                "EndpointConfigName": request["EndpointConfigName"],
                "EndpointConfig": without_times(config),
                "PrimaryContainer": container,
            }
            self.store.update(
                name,
                kind=ENDPOINT,
                status=EndpointStatus.UPDATING,
                owner=owned_by_me(),
                artifacts=_beside(record.artifacts, None, parameters),
            )
        return record, parameters

    def _switch(self, name: str, record: JobRecord, parameters: Mapping[str, Any]) -> None:
        """Start the new server, switch traffic to it, drain and stop the old one; or, if
        anything stops that before the switch is done, the old config and server again."""
        old = _server(record.artifacts)
        assert old is not None  # checked by ``_begin_update``
        new: EndpointServer | None = None

        def spawned(server: EndpointServer) -> None:
            nonlocal new
            new = server
            self.store.update(
                name, kind=ENDPOINT, artifacts=_beside(record.artifacts, server, parameters)
            )

        try:
            new = start_server(
                self._other_folder(name, old),
                parameters["PrimaryContainer"],
                engine=self.engine,
                host=old.bind_host or old.host,
                spawned=spawned,
                capture=self._capture(name, parameters["EndpointConfig"]),
            )
            # One write: the new config and server together; traffic switches here.
            self.store.update(
                name,
                kind=ENDPOINT,
                parameters=parameters,
                artifacts=_beside(new.artifacts(), old, record.parameters),
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
            return
        try:
            note = old.stop()  # SIGTERM: it drains what it was sent before the switch
            if note:
                self.echo(f"endpoint {name}: {note}")
        finally:
            self.store.update(
                name,
                kind=ENDPOINT,
                status=EndpointStatus.IN_SERVICE,
                artifacts=new.artifacts(),
                failure_reason="",
            )

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

    # -- reading the record ----------------------------------------------------------------

    def _endpoint_record(self, name: str) -> JobRecord:
        """Endpoint ``name``'s record; an update whose process is gone is rolled back first."""
        record = self.store.get(name, ENDPOINT)
        if record is None:
            raise RequestRefused(f"Could not find endpoint {name!r}.")
        if record.owner_gone:
            return self._roll_back(name)
        return record

    def _roll_back(self, name: str) -> JobRecord:
        """End the update of ``name`` that its process left half done: InService on the
        config whose server answers, the other server stopped (see the module's docstring).
        Done once: a reader that waited for the lock finds it done."""
        with self.store.locked(name):
            record = self.store.get(name, ENDPOINT)
            assert record is not None  # records are never removed
            if not record.owner_gone:
                return record
            serving, parameters = _server(record.artifacts), record.parameters
            standby = record.artifacts.get(STANDBY) or {}
            other = _server(standby.get("server") or {})
            if (
                other is not None
                and not (serving is not None and serving.answers())
                and other.answers()
            ):
                serving, other, parameters = other, serving, standby["parameters"]
            if other is not None:
                other.stop()  # before the record says it is over: a later reader retries
            self.store.update(
                name,
                kind=ENDPOINT,
                status=EndpointStatus.IN_SERVICE,
                parameters=parameters,
                artifacts=serving.artifacts() if serving is not None else {},
                failure_reason=one_line(
                    f"the update did not finish: {owner_gone_reason(time.time())}; it serves "
                    f"endpoint config {parameters.get('EndpointConfigName')!r}"
                ),
            )
            fresh = self.store.get(name, ENDPOINT)
            assert fresh is not None
            return fresh


def _server(artifacts: Mapping[str, Any]) -> EndpointServer | None:
    return EndpointServer.recorded(artifacts)


def _beside(
    artifacts: Mapping[str, Any], other: EndpointServer | None, parameters: Mapping[str, Any]
) -> dict[str, Any]:
    """A record's server (``artifacts``) with the update's other server and its config."""
    standby = {"server": other.artifacts() if other else None, "parameters": dict(parameters)}
    return {**artifacts, STANDBY: standby}


def without_times(answer: Mapping[str, Any]) -> dict[str, Any]:
    """A Describe answer as a request again (to be kept as JSON)."""
    return {key: value for key, value in answer.items() if key != "CreationTime"}
