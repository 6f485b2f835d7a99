"""Bad requests to ``bigmart api``: each gets SageMaker's error code, in a ClientError that
names the field or the resource, and leaves no record behind.

boto3 checks a request's shape itself before sending it; these clients do not
(``parameter_validation=False``), so the server's own checks are what is tested.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .conftest import ROLE, training_request


@pytest.fixture(scope="module")
def unchecked(api_server) -> Any:
    return api_server.client(parameter_validation=False)


def _error(call: Any, **request: Any) -> dict[str, str]:
    with pytest.raises(ClientError) as raised:
        call(**request)
    return raised.value.response["Error"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"RoleArn": None}, 'Missing required parameter in input: "RoleArn"'),
        (
            {"ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": "one"}},
            "Invalid type for parameter ResourceConfig.InstanceCount",
        ),
        ({"TrainingJobName": "bad_name"}, "Value 'bad_name' at 'trainingJobName' failed"),
        (
            {"AlgorithmSpecification": {"TrainingImage": "i", "TrainingInputMode": "Stream2"}},
            "'algorithmSpecification.trainingInputMode' failed to satisfy constraint: "
            "Member must satisfy enum value set",
        ),
    ],
    ids=["missing-field", "wrong-type", "invalid-name", "not-in-enum"],
)
def test_a_malformed_create_is_a_validation_exception_and_no_job(
    api_server, unchecked, synthetic_csv, tmp_path, change, message
):
    request = training_request("api-bad", str(synthetic_csv), str(tmp_path))
    request.update(change)
    request = {key: value for key, value in request.items() if value is not None}
    error = _error(unchecked.create_training_job, **request)
    assert error["Code"] == "ValidationException"
    assert message in error["Message"]
    assert api_server.store.get(request["TrainingJobName"]) is None
    assert not (tmp_path / request["TrainingJobName"]).exists()


def test_unknown_operations_are_unknown_operation_exceptions(api_server, unchecked):
    assert _error(unchecked.list_clusters)["Code"] == "UnknownOperationException"  # not served
    answer = _post(api_server.url, "SageMaker.NoSuchThing", {})
    assert answer["__type"] == "UnknownOperationException"
    assert "NoSuchThing" in answer["message"]


def test_missing_resources_are_validation_exceptions_naming_them(unchecked):
    for call, request, message in [
        (
            unchecked.describe_training_job,
            {"TrainingJobName": "nothing"},
            "Requested resource not found",
        ),
        (
            unchecked.describe_transform_job,
            {"TransformJobName": "nothing"},
            "Requested resource not found",
        ),
        (unchecked.describe_model, {"ModelName": "nothing"}, "Could not find model 'nothing'"),
        (unchecked.delete_model, {"ModelName": "nothing"}, "Could not find model 'nothing'"),
        (
            unchecked.describe_endpoint_config,
            {"EndpointConfigName": "nothing"},
            "Could not find endpoint configuration 'nothing'",
        ),
        (unchecked.describe_endpoint, {"EndpointName": "nothing"}, "Could not find endpoint"),
        (unchecked.delete_endpoint, {"EndpointName": "nothing"}, "Could not find endpoint"),
        (
            unchecked.stop_training_job,
            {"TrainingJobName": "nothing"},
            "Requested resource not found",
        ),
    ]:
        error = _error(call, **request)
        assert (error["Code"], message in error["Message"]) == ("ValidationException", True), error


def test_a_reused_name_is_refused_and_the_first_is_kept(api_server, unchecked, tmp_path):
    container = {"Image": "bigmart:latest", "ModelDataUrl": str(tmp_path / "model.tar.gz")}
    unchecked.create_model(ModelName="api-twice", PrimaryContainer=container, ExecutionRoleArn=ROLE)
    other = {**container, "Image": "other:1"}
    error = _error(
        unchecked.create_model, ModelName="api-twice", PrimaryContainer=other, ExecutionRoleArn=ROLE
    )
    assert error["Code"] == "ValidationException" and "already exists" in error["Message"]
    assert (
        unchecked.describe_model(ModelName="api-twice")["PrimaryContainer"]["Image"]
        == "bigmart:latest"
    )


def test_what_names_a_missing_resource_is_refused_and_leaves_no_record(api_server, unchecked):
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": "no-such-model",
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1,
    }
    error = _error(
        unchecked.create_endpoint_config,
        EndpointConfigName="api-orphan",
        ProductionVariants=[variant],
    )
    assert error["Code"] == "ValidationException" and "no-such-model" in error["Message"]
    assert api_server.store.get_resource("endpoint-config", "api-orphan") is None
    error = _error(unchecked.create_endpoint, EndpointName="api-orphan", EndpointConfigName="nope")
    assert error["Code"] == "ValidationException" and "'nope'" in error["Message"]
    assert api_server.store.get("api-orphan") is None
    error = _error(
        unchecked.create_transform_job,
        TransformJobName="api-orphan",
        ModelName="no-such-model",
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "/x"}}},
        TransformOutput={"S3OutputPath": "/y"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )
    assert error["Code"] == "ValidationException" and "no-such-model" in error["Message"]
    assert api_server.store.get("api-orphan") is None


def test_a_body_that_is_not_json_is_a_serialization_exception(api_server):
    request = urllib.request.Request(
        api_server.url + "/",
        data=b"{not json",
        headers={
            "X-Amz-Target": "SageMaker.ListModels",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=30)
    assert raised.value.code == 400
    assert json.loads(raised.value.read())["__type"] == "SerializationException"


def _post(url: str, target: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url + "/",
        data=json.dumps(body).encode(),
        headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return json.loads(error.read())


def test_a_training_job_and_an_endpoint_may_share_a_name_but_not_two_of_one_kind(
    api_server, sagemaker, trained, synthetic_csv, tmp_path
):
    """Names are unique per resource type on SageMaker: one name for a job, its model, its
    config and its endpoint is the usual way to write it."""
    from .conftest import FAST_WAIT

    name = "api-same"
    request = training_request(name, str(synthetic_csv), str(tmp_path))
    sagemaker.create_training_job(**request)
    sagemaker.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName=name, WaiterConfig=FAST_WAIT
    )
    container = {"Image": "bigmart:latest", "ModelDataUrl": trained}
    sagemaker.create_model(ModelName=name, PrimaryContainer=container, ExecutionRoleArn=ROLE)
    variant = {"VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large"}
    sagemaker.create_endpoint_config(
        EndpointConfigName=name, ProductionVariants=[{**variant, "InitialInstanceCount": 1}]
    )
    endpoint = sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    try:
        sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST_WAIT)
        described = sagemaker.describe_endpoint(EndpointName=name)
        assert described["EndpointStatus"] == "InService"
        assert described["EndpointArn"] == endpoint["EndpointArn"]
        assert endpoint["EndpointArn"].endswith(f":endpoint/{name}")
        job = sagemaker.describe_training_job(TrainingJobName=name)
        assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
        assert job["TrainingJobArn"].endswith(f":training-job/{name}")
        runtime = api_server.client("sagemaker-runtime")
        row = "FDA15,9.3,Low Fat,0.016,Dairy,249.8,OUT049,1999,Medium,Tier 1,Supermarket Type1"
        answer = runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body=row)
        assert float(answer["Body"].read().decode().strip()) > 0
        # Within one kind a name is still taken: refused, and the first is kept.
        error = _error(sagemaker.create_training_job, **request)
        assert error["Code"] == "ValidationException" and "already exists" in error["Message"]
        error = _error(sagemaker.create_endpoint, EndpointName=name, EndpointConfigName=name)
        assert error["Code"] == "ValidationException" and "already existing" in error["Message"]
        kinds = [(r.kind, r.status) for r in api_server.store.find(name)]
        assert kinds == [("training", "Completed"), ("endpoint", "InService")]
    finally:
        sagemaker.delete_endpoint(EndpointName=name)
    assert sagemaker.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "Completed"
