"""SageMaker runtime's InvokeEndpoint, proxied to a local endpoint's ``serve``.

What boto3's ``sagemaker-runtime`` client expects back: the container's body with its
Content-Type, the variant that answered, the custom attributes both ways; a container's
error status as ``ModelError`` (HTTP 424, with OriginalStatusCode and OriginalMessage); an
endpoint that does not exist or is not InService (or Updating: it serves throughout) as
``ValidationError``; a body over 6 MiB refused before it reaches the model, as SageMaker
refuses it.

As SageMaker replaces an instance that fails its health check, an endpoint whose ``serve``
died is started again on its recorded config: every such endpoint when the api starts (in
the background: the api answers meanwhile, the endpoint keeps its status), and one an
invocation finds dead while the api runs, once, before that call is answered (see
``local.endpoint_revivals``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from bigmart.api.errors import ApiError
from bigmart.contract import MIB, REALTIME_MAX_PAYLOAD_MB, EndpointStatus
from bigmart.local.endpoint_servers import CUSTOM_ATTRIBUTES, ModelError
from bigmart.local.endpoints import SERVING
from bigmart.local.requests import ARN_PLACE
from bigmart.local.sagemaker import LocalSageMaker
from bigmart.local.server_process import ServerError

#: InvokeEndpoint's request body limit.
MAX_BODY_BYTES = REALTIME_MAX_PAYLOAD_MB * MIB
#: How much of the container's error body OriginalMessage and the message carry.
MESSAGE_CHARACTERS = 2_000
#: How long the api's shutdown waits for the revival under way (a server's start: ``/ping``
#: within 60 s); a server it leaves starting is recorded all the same.
REVIVAL_SECONDS = 70.0


@dataclass
class Invocation:
    """One InvokeEndpoint request, as the runtime's REST binding carries it."""

    endpoint: str
    body: bytes
    content_type: str = "application/octet-stream"
    accept: str | None = None
    custom_attributes: str | None = None


@dataclass
class Answer:
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def too_large(size: int) -> ApiError:
    """The answer to a body over the limit (SageMaker's 413, which boto3 shows as code 413)."""
    return ApiError(
        "413",
        f"the request body is {size:,} bytes; InvokeEndpoint takes at most "
        f"{MAX_BODY_BYTES:,} ({REALTIME_MAX_PAYLOAD_MB} MiB)",
        413,
    )


class Runtime:
    """InvokeEndpoint on the endpoints of one job store."""

    def __init__(self, backend: LocalSageMaker) -> None:
        self.backend = backend
        self._revival: threading.Thread | None = None

    def start(self) -> None:
        """Start again, in the background, the endpoints whose server died while no api
        ran (a machine restart, a kill); the ones that answer are served as they are."""
        self._revival = threading.Thread(
            target=self.backend.revive_endpoints, name="bigmart-api-revival", daemon=True
        )
        self._revival.start()

    def close(self) -> None:
        """Let the revival under way end, so the server it starts is left serving."""
        if self._revival is not None:
            self._revival.join(REVIVAL_SECONDS)

    def invoke(self, request: Invocation) -> Answer:
        name = request.endpoint
        record = self.backend.store.get(name, "endpoint")
        if record is None or record.status == EndpointStatus.DELETED:
            raise ApiError(
                "ValidationError",
                f"Endpoint {name} of account {ARN_PLACE.get().account} not found.",
            )
        if record.status not in SERVING:
            raise ApiError("ValidationError", f"Endpoint {name} is {record.status}, not InService.")
        if len(request.body) > MAX_BODY_BYTES:
            raise too_large(len(request.body))
        try:
            answer = self.backend.invoke_endpoint(
                name,
                request.body,
                ContentType=request.content_type,
                Accept=request.accept or request.content_type,
                CustomAttributes=request.custom_attributes,
            )
        except ModelError as error:
            raise model_error(name, error) from None
        except ServerError as error:
            raise ApiError("ServiceUnavailable", str(error), 503) from None
        headers = {
            "Content-Type": answer["ContentType"],
            "x-Amzn-Invoked-Production-Variant": answer["InvokedProductionVariant"],
        }
        if "CustomAttributes" in answer:
            headers[CUSTOM_ATTRIBUTES] = answer["CustomAttributes"]
        return Answer(answer["Body"], headers)


def model_error(endpoint: str, error: ModelError) -> ApiError:
    """The container answered an error: ModelError, worded as SageMaker words it."""
    text = error.body.decode("utf-8", "replace")[:MESSAGE_CHARACTERS]
    side = "client" if error.status < 500 else "server"
    return ApiError(
        "ModelError",
        f'Received {side} error ({error.status}) from primary with message "{text}". '
        f"See the log of endpoint {endpoint} for more information.",
        424,
        OriginalStatusCode=error.status,
        OriginalMessage=text,
    )
