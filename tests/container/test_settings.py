"""The server's settings from the environment SageMaker gives the container."""

import pytest

from bigmart.container.settings import ServingSettings, payload_too_large


def test_settings_from_environment():
    settings = ServingSettings.from_environment(
        {
            "SAGEMAKER_BIND_TO_PORT": "9000",
            "MODEL_SERVER_WORKERS": "3",
            "SAGEMAKER_MODEL_SERVER_TIMEOUT": "10",
            "SAGEMAKER_BATCH": "true",
            "SAGEMAKER_MAX_PAYLOAD_IN_MB": "0",
        }
    )
    assert (settings.port, settings.workers, settings.timeout) == (9000, 3, 10)
    assert settings.host == "0.0.0.0"  # SageMaker's image contract
    local = ServingSettings.from_environment({"BIGMART_BIND_HOST": " 127.0.0.1 "})
    assert local.host == "127.0.0.1"
    assert settings.max_body_bytes is None
    real_time = ServingSettings.from_environment({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "50"})
    assert real_time.max_body_bytes == 6 * 1024 * 1024  # InvokeEndpoint's cap
    assert (
        ServingSettings.from_environment(
            {"SAGEMAKER_MODEL_SERVER_WORKERS": "5", "MODEL_SERVER_WORKERS": "2"}
        ).workers
        == 5
    )


@pytest.mark.parametrize(
    "variable", ["SAGEMAKER_BIND_TO_PORT", "MODEL_SERVER_WORKERS", "SAGEMAKER_MAX_PAYLOAD_IN_MB"]
)
def test_malformed_settings_name_the_variable(variable):
    with pytest.raises(ValueError, match=variable):
        ServingSettings.from_environment({variable: "lots"})


BATCH = {"SAGEMAKER_BATCH": "true"}


@pytest.mark.parametrize(
    ("environment", "said"),
    [
        ({}, "payload limit 6 MiB"),
        ({**BATCH, "SAGEMAKER_MAX_PAYLOAD_IN_MB": "0"}, "no payload limit"),
        ({**BATCH, "SAGEMAKER_MAX_PAYLOAD_IN_MB": "100"}, "payload limit 100 MiB"),
    ],
)
def test_the_payload_limit_is_said_in_mib_or_as_none(environment, said):
    """SageMaker's "MB" (MaxPayloadInMB, InvokeEndpoint's 6 MB) are MiB; 0 is no limit."""
    assert ServingSettings.from_environment(environment).payload_limit() == said
    assert payload_too_large(6 * 1024 * 1024).startswith(
        "the request body is over the 6 MiB payload limit;"
    )
