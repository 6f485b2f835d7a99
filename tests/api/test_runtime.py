"""InvokeEndpoint's errors as boto3 shows SageMaker's: the model's error status as ModelError
(424, OriginalStatusCode, OriginalMessage), an unknown endpoint as ValidationError, a body
over 6 MB refused before it reaches the model. An endpoint whose server died is brought back:
by a restarted api, and by the invocation that finds it dead."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from bigmart.api.runtime import MAX_BODY_BYTES
from bigmart.local.endpoint_servers import EndpointServer
from support.endpoints import LINE, kill_server, until

from .conftest import FAST_WAIT, ROLE, running_api


@pytest.fixture(scope="module")
def endpoint(api_server, sagemaker, trained) -> str:
    container = {
        "Image": "bigmart:latest",
        "ModelDataUrl": trained,
        "Environment": {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"},
    }
    sagemaker.create_model(ModelName="api-rt", PrimaryContainer=container, ExecutionRoleArn=ROLE)
    variant = {"VariantName": "AllTraffic", "ModelName": "api-rt", "InstanceType": "ml.t2.medium"}
    sagemaker.create_endpoint_config(
        EndpointConfigName="api-rt", ProductionVariants=[{**variant, "InitialInstanceCount": 1}]
    )
    sagemaker.create_endpoint(EndpointName="api-rt", EndpointConfigName="api-rt")
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName="api-rt", WaiterConfig=FAST_WAIT)
    yield "api-rt"
    sagemaker.delete_endpoint(EndpointName="api-rt")


@pytest.fixture(scope="module")
def runtime(api_server) -> Any:
    return api_server.client("sagemaker-runtime")


def test_a_model_error_is_a_model_error_with_the_containers_status_and_body(endpoint, runtime):
    with pytest.raises(runtime.exceptions.ModelError) as raised:
        runtime.invoke_endpoint(EndpointName=endpoint, Body=b"one,column", ContentType="text/csv")
    answer = raised.value.response
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert answer["OriginalStatusCode"] == 400
    assert "expected 11 columns" in answer["OriginalMessage"]
    assert answer["Error"]["Message"].startswith("Received client error (400) from primary")


def test_an_unsupported_accept_is_the_containers_406_passed_on(endpoint, runtime):
    line = (
        b"FDW58,20.75,Low Fat,0.0075,Snack Foods,107.86,OUT049,1999,Medium,Tier 1,Supermarket Type1"
    )
    with pytest.raises(runtime.exceptions.ModelError) as raised:
        runtime.invoke_endpoint(
            EndpointName=endpoint, Body=line, ContentType="text/csv", Accept="image/png"
        )
    assert raised.value.response["OriginalStatusCode"] == 406


def test_an_unknown_endpoint_is_a_validation_error(runtime):
    with pytest.raises(runtime.exceptions.ValidationError, match="Endpoint nowhere of account"):
        runtime.invoke_endpoint(EndpointName="nowhere", Body=b"x", ContentType="text/csv")


def test_a_body_over_six_megabytes_is_refused_before_the_model(endpoint, runtime):
    with pytest.raises(ClientError) as raised:
        runtime.invoke_endpoint(
            EndpointName=endpoint, Body=b"x" * (MAX_BODY_BYTES + 1), ContentType="text/csv"
        )
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert "at most 6,291,456 (6 MiB)" in raised.value.response["Error"]["Message"]


def test_a_restarted_api_brings_back_an_endpoint_whose_server_was_killed(model_archive, tmp_path):
    home, name = tmp_path / "home", "api-back"
    with running_api(home, keep_endpoints=True) as first:
        sagemaker = first.client()
        container = {"Image": "bigmart:latest", "ModelDataUrl": f"file://{model_archive}"}
        sagemaker.create_model(ModelName=name, PrimaryContainer=container, ExecutionRoleArn=ROLE)
        variant = {"VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large"}
        sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant])
        sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
        sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST_WAIT)
        runtime = first.client("sagemaker-runtime")
        expected = runtime.invoke_endpoint(EndpointName=name, Body=LINE, ContentType="text/csv")[
            "Body"
        ].read()
        dead = EndpointServer.recorded(first.store.get(name).artifacts)
        kill_server(dead)  # SIGKILL of its process group, as a reboot or the OOM killer
    with running_api(home) as second:

        def revived() -> EndpointServer | None:
            server = EndpointServer.recorded(second.store.get(name).artifacts)
            return server if server.pid != dead.pid and server.answers() else None

        server = until(revived, "the endpoint's server started again")  # no call asked for it
        sagemaker, runtime = second.client(), second.client("sagemaker-runtime")
        described = sagemaker.describe_endpoint(EndpointName=name)
        assert described["EndpointStatus"] == "InService" and "FailureReason" not in described
        assert (
            runtime.invoke_endpoint(EndpointName=name, Body=LINE, ContentType="text/csv")[
                "Body"
            ].read()
            == expected
        )
        # And while it runs: the call that finds the server dead starts it again first.
        kill_server(server)
        assert (
            runtime.invoke_endpoint(EndpointName=name, Body=LINE, ContentType="text/csv")[
                "Body"
            ].read()
            == expected
        )
        assert sagemaker.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"
        sagemaker.delete_endpoint(EndpointName=name)
