"""SageMaker's control plane over the local backend: one method per operation served.

Each operation takes the request as boto3 sent it (already checked against the service
model) and answers in the operation's output shape. The Creates of jobs and endpoints run in
``Workers`` and answer once the record exists; the rest are the backend's own calls, with the
few differences between a local record and SageMaker's view of it made here: a deleted
endpoint is not found (the store keeps it as history), an endpoint config's instance type
runs as ``local``, ``file://`` locations are paths, and List answers take SageMaker's
NameContains / StatusEquals / SortOrder.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlparse

from bigmart.api.errors import validation
from bigmart.api.plane import Operation, Plane
from bigmart.api.workers import Workers
from bigmart.contract import EndpointStatus, JobStatus
from bigmart.local.requests import LOCAL_INSTANCE, arn, time_of
from bigmart.local.sagemaker import LocalSageMaker

#: ARN resource types kept as resources (a request each) and as records (a job store kind).
RESOURCE_KINDS = ("model", "endpoint-config")
RECORD_KINDS = {"training-job": "training", "transform-job": "transform", "endpoint": "endpoint"}


class ControlPlane(Plane):
    """The operations ``bigmart api`` serves, by SageMaker's operation name."""

    target = "SageMaker"

    def __init__(self, backend: LocalSageMaker, workers: Workers) -> None:
        self.backend = backend
        self.workers = workers
        self.operations: dict[str, Operation] = {
            "CreateTrainingJob": self.create_training_job,
            "DescribeTrainingJob": lambda r: backend.describe_training_job(r["TrainingJobName"]),
            "ListTrainingJobs": lambda r: _listed(backend.list_training_jobs(), "Training", r),
            "StopTrainingJob": lambda r: self._stop(r["TrainingJobName"], "training"),
            "CreateModel": lambda r: backend.create_model(local_locations(r)),
            "DescribeModel": lambda r: backend.describe_model(r["ModelName"]),
            "ListModels": lambda r: self._resources("model", "Model", r),
            "DeleteModel": lambda r: backend.delete_model(r["ModelName"]),
            "CreateEndpointConfig": self.create_endpoint_config,
            "DescribeEndpointConfig": lambda r: backend.describe_endpoint_config(
                r["EndpointConfigName"]
            ),
            "ListEndpointConfigs": lambda r: self._resources(
                "endpoint-config", "EndpointConfig", r
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
            "ListTransformJobs": lambda r: _listed(backend.list_transform_jobs(), "Transform", r),
            "StopTransformJob": lambda r: self._stop(r["TransformJobName"], "transform"),
            "ListTags": self.list_tags,
        }

    # -- jobs and endpoints: run in a worker -----------------------------------------------

    def create_training_job(self, request: Mapping[str, Any]) -> dict[str, Any]:
        name = request["TrainingJobName"]
        self.workers.start("create_training_job", name, local_locations(request))
        return {"TrainingJobArn": arn("training-job", name)}

    def create_transform_job(self, request: Mapping[str, Any]) -> dict[str, Any]:
        name = request["TransformJobName"]
        self.workers.start("create_transform_job", name, local_locations(request))
        return {"TransformJobArn": arn("transform-job", name)}

    def create_endpoint(self, request: Mapping[str, Any]) -> dict[str, Any]:
        name = request["EndpointName"]
        self.workers.start("create_endpoint", name, request)
        return {"EndpointArn": arn("endpoint", name)}

    def update_endpoint(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Answers once the endpoint is Updating (its worker starts the new server, switches
        and drains the old one; a refusal, such as an endpoint not InService, comes back)."""
        name = request["EndpointName"]
        self._endpoint(name)  # a deleted endpoint is not found
        self.workers.start("update_endpoint", name, request)
        return {"EndpointArn": arn("endpoint", name)}

    def _stop(self, name: str, kind: str) -> dict[str, Any]:
        describe = getattr(self.backend, f"describe_{kind}_job")
        status = describe(name)[f"{kind.capitalize()}JobStatus"]
        if status != JobStatus.IN_PROGRESS:
            raise validation(
                f"The request was rejected because the {kind} job is in status {status}."
            )
        self.workers.stop(name)
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
        answer = self.backend.list_endpoints(
            SortOrder=request.get("SortOrder", "Descending"),
            NameContains=request.get("NameContains"),
            StatusEquals=request.get("StatusEquals"),
        )
        live = [e for e in answer["Endpoints"] if e["EndpointStatus"] != EndpointStatus.DELETED]
        return {"Endpoints": live}

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

    # -- List answers of models and endpoint configs ---------------------------------------

    def _resources(self, kind: str, label: str, request: Mapping[str, Any]) -> dict[str, Any]:
        """ListModels / ListEndpointConfigs: ``label`` is Model or EndpointConfig."""
        contains = request.get("NameContains")
        rows = [
            {
                f"{label}Name": name,
                f"{label}Arn": arn(kind, name),
                "CreationTime": time_of(created),
            }
            for name, _, created in self.backend.store.list_resources(kind)
            if contains is None or contains in name
        ]
        if request.get("SortOrder", "Descending") == "Descending":
            rows.reverse()
        return {f"{label}s": rows}


def _listed(answer: dict[str, Any], kind: str, request: Mapping[str, Any]) -> dict[str, Any]:
    """A List answer of jobs (``kind``: Training or Transform), filtered as asked."""
    key = f"{kind}JobSummaries"
    contains, status = request.get("NameContains"), request.get("StatusEquals")
    rows = [
        row
        for row in answer[key]
        if (contains is None or contains in row[f"{kind}JobName"])
        and (status is None or row[f"{kind}JobStatus"] == status)
    ]
    if request.get("SortOrder", "Descending") == "Ascending":
        rows.reverse()
    return {key: rows}


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
