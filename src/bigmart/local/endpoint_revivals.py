"""An endpoint whose server died is started again, as SageMaker replaces an instance that
fails its health check.

A local endpoint's ``serve`` runs detached, so it can end without its record knowing: the
machine restarts, the process is killed, it crashes. The record still says InService and
names the config it serves, so the server is started again on that config (its model read
again from the ModelDataUrl, on the same port if it is free, with the same engine) and the
endpoint keeps its status; if the model can no longer start, the endpoint is Failed with the
reason. Two moments look for a dead server:

- ``bigmart api`` starting (``revive_endpoints``, in the background): every endpoint recorded
  InService whose server does not answer ``/ping`` (an Updating one whose update's process is
  gone is rolled back first, see ``endpoint_updates``); a server that answers is adopted as
  it is;
- InvokeEndpoint finding nothing listening where the record says (``bigmart api``'s runtime
  or ``bigmart endpoint invoke``): the server is started again once, within ``/ping``'s time
  limit, and the call goes to it; if that fails too, the call fails as before. A slow answer
  (a timeout) does not replace a server, nor does a server that still answers ``/ping``.

A revival holds the record's lock, so callers that find the same dead server start one
between them, and a deletion or an update waits for it. The new server is recorded as soon
as its process exists, so a reviver killed outright leaves no server that no record names.
"""

from __future__ import annotations

from pathlib import Path

from bigmart.clipping import describe, one_line
from bigmart.contract import EndpointStatus
from bigmart.errors import BigmartError
from bigmart.local.endpoint_servers import EndpointServer, start_server
from bigmart.local.endpoint_updates import START_ERRORS, EndpointUpdates
from bigmart.local.jobs import ENDPOINT, JobRecord
from bigmart.local.server_process import LOOPBACK, port_in_use


class EndpointRevivals(EndpointUpdates):
    """Starting a dead endpoint server again (part of ``LocalEndpoints``)."""

    def revive_endpoints(self) -> None:
        """Start again the server of every InService endpoint that does not answer; one
        that cannot start is Failed, one that fails unexpectedly is left for the next look."""
        for record in self.store.list("endpoint"):
            if record.status not in (EndpointStatus.IN_SERVICE, EndpointStatus.UPDATING):
                continue
            try:
                self.revive_endpoint(record.name)
            except Exception as error:  # a defect must not keep the others from their turn
                self.echo(f"endpoint {record.name}: not revived: {describe(error)}")

    def revive_endpoint(self, name: str) -> EndpointServer | None:
        """The server endpoint ``name`` is served by now: the recorded one if it answers,
        else one started again on the recorded config. None if the endpoint is not InService
        (or is now Failed, its server unable to start again)."""
        with self.store.locked(name):
            record = self._endpoint_record(name)
            server = EndpointServer.recorded(record.artifacts)
            if record.status != EndpointStatus.IN_SERVICE:
                return None
            if server is not None and server.answers():
                return server
            return self._start_again(record, server)

    def _start_again(self, record: JobRecord, dead: EndpointServer | None) -> EndpointServer | None:
        """A new server for ``record`` in place of ``dead`` (stopped first, should it still
        run without answering); the endpoint Failed if it cannot start."""
        name = record.name
        note = dead.stop() if dead is not None else ""
        container = record.parameters.get("PrimaryContainer")
        folder = self.store.home / "endpoints" / name
        host, port = LOOPBACK, None
        if dead is not None:
            folder = Path(dead.model_dir).parent if dead.model_dir else folder
            host = dead.bind_host or dead.host
            port = None if port_in_use(dead.port, host) else dead.port
        try:
            if not container:
                raise BigmartError("its record names no model to serve")
            server = start_server(
                folder,
                container,
                engine=(dead.engine if dead is not None else None) or self.engine,
                port=port,
                host=host,
                spawned=lambda started: self.store.update(
                    name, kind=ENDPOINT, artifacts=started.artifacts()
                ),
                capture=self._capture(name, record.parameters.get("EndpointConfig") or {}),
            )
        except START_ERRORS as error:
            reason = str(error)  # says what to fix as it is
        except (BigmartError, OSError, ValueError) as error:
            reason = describe(error)
        else:
            self.store.update(name, kind=ENDPOINT, artifacts=server.artifacts())
            self.echo(
                f"endpoint {name}: its server did not answer{f' ({note})' if note else ''}; "
                f"started again at {server.url}"
            )
            return server
        self.store.update(
            name,
            kind=ENDPOINT,
            status=EndpointStatus.FAILED,
            failure_reason=one_line(f"its server stopped and could not start again: {reason}"),
            ended=True,
        )
        return None
