"""SageMaker's control plane over the local backend: one method per operation served.

Each operation takes the request as boto3 sent it (already checked against the service
model) and answers in the operation's output shape. The Creates of jobs and endpoints run in
``Workers`` and answer once the record exists; the rest are the backend's own calls, with the
few differences between a local record and SageMaker's view of it made here: a deleted
endpoint is not found (the store keeps it as history), an endpoint config's instance type
runs as ``local``, and ``file://`` locations are paths. List answers are filtered and paged
as SageMaker's (``listing``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlparse

from bigmart.api import listing
from bigmart.api.capacity import Capacity
from bigmart.api.errors import validation
from bigmart.api.plane import Operation, Plane
from bigmart.api.workers import Workers
from bigmart.contract import EndpointStatus, JobStatus
from bigmart.local.requests import LOCAL_INSTANCE, arn, time_of
from bigmart.local.sagemaker import LocalSageMaker

#: ARN resource types kept as resources (a request each) and as records (a job store kind).
RESOURCE_KINDS = ("model", "endpoint-config")
#: Each resource kind's name in its List answer's fields (ModelName, EndpointConfigArn).
RESOURCE_LABELS = {"model": "Model", "endpoint-config": "EndpointConfig"}
RECORD_KINDS = {"training-job": "training", "transform-job": "transform", "endpoint": "endpoint"}


class ControlPlane(Plane):
    """The operations ``bigmart api`` serves, by SageMaker's operation name."""

    target = "SageMaker"

    def __init__(
        self, backend: LocalSageMaker, workers: Workers, capacity: Capacity | None = None
    ) -> None:
        self.backend = backend
        self.workers = workers
        self.capacity = capacity or Capacity(backend.store)
        self.operations: dict[str, Operation] = {
            "CreateTrainingJob": self.create_training_job,
            "DescribeTrainingJob": lambda r: backend.describe_training_job(r["TrainingJobName"]),
            "ListTrainingJobs": lambda r: listing.page(
                listing.TRAINING_JOBS, backend.list_training_jobs()["TrainingJobSummaries"], r
            ),
            "StopTrainingJob": lambda r: self._stop(r["TrainingJobName"], "training"),
            "CreateModel": lambda r: backend.create_model(local_locations(r)),
            "DescribeModel": lambda r: backend.describe_model(r["ModelName"]),
            "ListModels": lambda r: listing.page(listing.MODELS, self._resources("model"), r),
            "DeleteModel": lambda r: backend.delete_model(r["ModelName"]),
            "CreateEndpointConfig": self.create_endpoint_config,
            "DescribeEndpointConfig": lambda r: backend.describe_endpoint_config(
                r["EndpointConfigName"]
            ),
            "ListEndpointConfigs": lambda r: listing.page(
                listing.ENDPOINT_CONFIGS, self._resources("endpoint-config"), r
            ),
            "DeleteEndpointConfig": lambda r: backend.delete_endpoint_config(
                r["EndpointConfigName"]
            ),
            "CreateEndpoint": self.create_endpoint,
            "DescribeEndpoint": lambda r: self._endpoint(r["EndpointName"]),
            "ListEndpoints": self.list_endpoints,
            "UpdateEndpoint": self.update_endpoint,
            "DeleteEndpoint": self.delete_endpoint,
            "CreateTransformJob": self.create_transform_job,
            "DescribeTransformJob": lambda r: backend.describe_transform_job(r["TransformJobName"]),
            "ListTransformJobs": lambda r: listing.page(
                listing.TRANSFORM_JOBS, backend.list_transform_jobs()["TransformJobSummaries"], r
            ),
            "StopTransformJob": lambda r: self._stop(r["TransformJobName"], "transform"),
            "ListTags": self.list_tags,
        }

    # -- jobs and endpoints: run in a worker -----------------------------------------------

    def create_training_job(self, request: Mapping[str, Any]) -> dict[str, Any]:
        name = request["TrainingJobName"]
        with self.capacity.claim("training", request):
            self.workers.start("create_training_job", "training", name, local_locations(request))
        return {"TrainingJobArn": arn("training-job", name)}

    def create_transform_job(self, request: Mapping[str, Any]) -> dict[str, Any]:
        name = request["TransformJobName"]
        with self.capacity.claim("transform", request):
            self.workers.start("create_transform_job", "transform", name, local_locations(request))
        return {"TransformJobArn": arn("transform-job", name)}

    def create_endpoint(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """The endpoint's instances are its config's (a missing config is the worker's
        refusal to give)."""
        name = request["EndpointName"]
        found = self.backend.store.get_resource("endpoint-config", request["EndpointConfigName"])
        with self.capacity.claim("endpoint", {"EndpointConfig": found[0] if found else {}}):
            self.workers.start("create_endpoint", "endpoint", name, request)
        return {"EndpointArn": arn("endpoint", name)}

    def update_endpoint(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Answers once the endpoint is Updating (its worker starts the new server, switches
        and drains the old one; a refusal, such as an endpoint not InService, comes back)."""
        name = request["EndpointName"]
        self._endpoint(name)  # a deleted endpoint is not found
        self.workers.start("update_endpoint", "endpoint", name, request)
        return {"EndpointArn": arn("endpoint", name)}

    def _stop(self, name: str, kind: str) -> dict[str, Any]:
        describe = getattr(self.backend, f"describe_{kind}_job")
        status = describe(name)[f"{kind.capitalize()}JobStatus"]
        if status != JobStatus.IN_PROGRESS:
            raise validation(
                f"The request was rejected because the {kind} job is in status {status}."
            )
        self.workers.stop(kind, name)
        return {}

    # -- endpoint configs and endpoints -----------------------------------------------------

    def create_endpoint_config(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Every instance type runs as ``local`` here: one ``serve`` on this machine (a
        ``file://`` data capture destination is the folder it names)."""
        request = local_locations(request)
        variants = [
            {**variant, "InstanceType": LOCAL_INSTANCE}
            for variant in request.get("ProductionVariants") or []
        ]
        return self.backend.create_endpoint_config({**request, "ProductionVariants": variants})

    def _endpoint(self, name: str) -> dict[str, Any]:
        """DescribeEndpoint; a deleted endpoint is not found, as on SageMaker."""
        answer = self.backend.describe_endpoint(name)
        if answer["EndpointStatus"] == EndpointStatus.DELETED:
            raise validation(f"Could not find endpoint {name!r}.")
        return answer

    def list_endpoints(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """ListEndpoints: a deleted endpoint's record is history here, not an endpoint."""
        endpoints = self.backend.list_endpoints()["Endpoints"]
        live = [e for e in endpoints if e["EndpointStatus"] != EndpointStatus.DELETED]
        return listing.page(listing.ENDPOINTS, live, request)

    def delete_endpoint(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Stop its server and forget it; the backend refuses one still Creating or
        Updating, as SageMaker does."""
        name = request["EndpointName"]
        self._endpoint(name)  # a deleted endpoint is not found
        return self.backend.delete_endpoint(name)

    # -- tags ------------------------------------------------------------------------------

    def list_tags(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """The Tags a resource was created with (the SDK's ``Estimator.attach`` and
        ``update_endpoint`` read them back)."""
        resource = request["ResourceArn"]
        kind, _, lowered = resource.split(":", 5)[-1].partition("/")
        parameters = self._tagged(kind, lowered)
        if parameters is None:
            raise validation(f"Requested resource not found: {resource}")
        return {"Tags": list(parameters.get("Tags") or [])}

    def _tagged(self, kind: str, lowered: str) -> Mapping[str, Any] | None:
        """The request a resource was created with, found by its ARN's ``kind`` and name
        (an ARN has the name in lower case, as on SageMaker)."""
        if kind in RESOURCE_KINDS:
            for name, request, _ in self.backend.store.list_resources(kind):
                if name.lower() == lowered:
                    return request
        elif kind in RECORD_KINDS:
            for record in self.backend.store.list(RECORD_KINDS[kind]):
                if record.name.lower() == lowered and record.status != EndpointStatus.DELETED:
                    return record.parameters
        return None

    # -- List rows of models and endpoint configs ------------------------------------------

    def _resources(self, kind: str) -> list[dict[str, Any]]:
        """Every model or endpoint config (``kind``) as a row of its List answer."""
        label = RESOURCE_LABELS[kind]
        return [
            {f"{label}Name": name, f"{label}Arn": arn(kind, name), "CreationTime": time_of(created)}
            for name, _, created in self.backend.store.list_resources(kind)
        ]


def local_locations(request: Any) -> Any:
    """The request with each ``file://`` URI as the path it names (the backend reads
    paths and ``s3://``)."""
    if isinstance(request, Mapping):
        return {key: local_locations(value) for key, value in request.items()}
    if isinstance(request, list):
        return [local_locations(item) for item in request]
    if isinstance(request, str) and request.startswith("file://"):
        return unquote(urlparse(request).path)
    return request
