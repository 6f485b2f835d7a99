"""SageMaker's names, spelled once: what the backends write is what the container reads."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from bigmart import aws, contract
from bigmart.aws import names as aws_names
from bigmart.aws.records import outcome
from bigmart.container import serve as container_serve
from bigmart.container import train as container_train
from bigmart.container.paths import OptMl
from bigmart.container.settings import ServingSettings
from bigmart.contract import (
    BatchStrategy,
    Env,
    JobStatus,
    batch_strategy_from_env,
    batch_strategy_to_env,
    check_name,
)
from bigmart.errors import BigmartError, RequestError
from bigmart.local import engines
from bigmart.local.transform.job import batch_environment
from bigmart.local.transform.options import TransformOptions


@pytest.mark.parametrize("strategy", BatchStrategy.ALL)
def test_batch_strategy_round_trips_between_the_request_and_the_container(
    strategy: str,
) -> None:
    spelled = batch_strategy_to_env(strategy)
    assert spelled == {"MultiRecord": "MULTI_RECORD", "SingleRecord": "SINGLE_RECORD"}[strategy]
    assert batch_strategy_from_env(spelled) == strategy
    assert batch_strategy_from_env(spelled.lower()) == strategy  # servers vary in case
    # The container accepts it and advertises it back, in its own spelling.
    settings = ServingSettings.from_environment({Env.SAGEMAKER_BATCH_STRATEGY: spelled})
    advertised = settings.execution_parameters()["BatchStrategy"]
    assert batch_strategy_from_env(advertised) == strategy


def test_unknown_batch_strategies_are_not_mapped() -> None:
    assert batch_strategy_from_env("MultiRecord") is None  # the request's spelling, not env's
    assert batch_strategy_from_env("") is None
    assert batch_strategy_from_env(None) is None
    with pytest.raises(ValueError, match="SAGEMAKER_BATCH_STRATEGY='EVERY_RECORD'"):
        ServingSettings.from_environment({Env.SAGEMAKER_BATCH_STRATEGY: "every_record"})


def test_the_transform_options_accept_exactly_the_contract_s_strategies() -> None:
    for strategy in BatchStrategy.ALL:
        assert TransformOptions(batch_strategy=strategy).batch_strategy == strategy
    with pytest.raises(ValueError, match="batch_strategy='MULTI_RECORD'"):
        TransformOptions(batch_strategy="MULTI_RECORD")  # the container's spelling


@pytest.mark.parametrize("strategy", BatchStrategy.ALL)
def test_what_a_transform_job_sets_is_what_the_server_reads(strategy: str) -> None:
    options = TransformOptions(batch_strategy=strategy, max_payload_mb=9)
    settings = ServingSettings.from_environment(batch_environment(options))
    assert settings.batch
    assert settings.max_payload_mb == 9
    assert settings.max_body_bytes == 9 * contract.MIB
    assert batch_strategy_from_env(settings.batch_strategy) == strategy


def test_the_serving_variables_are_the_ones_the_container_reads() -> None:
    settings = ServingSettings.from_environment(
        {
            Env.SAGEMAKER_BIND_TO_PORT: "9123",
            Env.MODEL_SERVER_WORKERS: "3",
            Env.MODEL_SERVER_TIMEOUT: "17",
            Env.BIGMART_BIND_HOST: "127.0.0.1",
        }
    )
    assert (settings.port, settings.workers, settings.timeout, settings.host) == (
        9123,
        3,
        17,
        "127.0.0.1",
    )
    # The SAGEMAKER_-prefixed spelling wins over the bare one.
    both = {Env.SAGEMAKER_MODEL_SERVER_WORKERS: "2", Env.MODEL_SERVER_WORKERS: "5"}
    assert ServingSettings.from_environment(both).workers == 2
    defaults = ServingSettings.from_environment({})
    assert defaults.port == contract.DEFAULT_PORT == 8080
    assert defaults.timeout == contract.DEFAULT_TIMEOUT_SECONDS == 60
    assert defaults.max_body_bytes == contract.REALTIME_MAX_PAYLOAD_MB * contract.MIB


def test_opt_ml_moves_with_its_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(Env.OPT_ML, str(tmp_path))
    assert OptMl.from_environment().root == tmp_path
    monkeypatch.delenv(Env.OPT_ML)
    assert OptMl.from_environment().root == Path(contract.DEFAULT_OPT_ML) == Path("/opt/ml")


def test_a_container_engine_s_serve_gets_the_variables_serve_reads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(engines.shutil, "which", lambda name: f"/usr/bin/{name}")
    command = engines.serve_command(
        "podman", "bigmart:test", tmp_path, 9124, {Env.MODEL_SERVER_WORKERS: "2"}, "::1"
    )
    variables = dict(command[i + 1].split("=", 1) for i, item in enumerate(command) if item == "-e")
    settings = ServingSettings.from_environment(variables)
    assert (settings.port, settings.host, settings.workers) == (9124, "::1", 2)
    assert f"{tmp_path.resolve()}:/opt/ml/model:ro" in command


def test_exit_codes_are_the_shell_s_for_signals_and_the_containers_own() -> None:
    assert contract.EXIT_STOPPED == 128 + signal.SIGTERM == 143
    assert contract.EXIT_INTERRUPTED == 130
    assert contract.EXIT_BROKEN_PIPE == 141
    assert contract.exit_code_for_signal(signal.SIGHUP) == 129
    assert container_train.EXIT_STOPPED == contract.EXIT_STOPPED
    assert container_train.EXIT_FAILED == contract.EXIT_FAILED == 1
    assert container_serve.EXIT_NO_MODEL == contract.EXIT_NO_MODEL == 3


def test_payload_units_are_mebibytes() -> None:
    assert contract.MIB == 1024 * 1024
    assert aws.MAX_INVOKE_BYTES == 6 * 1024 * 1024


def test_job_statuses_end_a_remote_record_exactly_when_sagemaker_says_it_ended() -> None:
    for status in (JobStatus.IN_PROGRESS, JobStatus.STOPPING):
        assert not outcome("training", {"TrainingJobStatus": status}).ended
    for status in JobStatus.TERMINAL:
        job = {"TrainingJobStatus": status, "FailureReason": "bad row"}
        assert outcome("training", job).ended
    assert outcome("training", {"TrainingJobStatus": "Failed", "FailureReason": "x"}).failure_reason


@pytest.mark.parametrize("name", ["a", "bigmart-2024-06-01", "A1--b", "x" * 63])
def test_valid_resource_names(name: str) -> None:
    assert check_name(name, "name") == name


@pytest.mark.parametrize("name", ["", "-a", "a-", "../x", "a_b", "a.b", "x" * 64])
def test_invalid_resource_names_are_a_request_error_with_exit_code_2(name: str) -> None:
    with pytest.raises(RequestError, match="is not a valid SageMaker name") as refused:
        check_name(name, "job name")
    assert isinstance(refused.value, BigmartError) and refused.value.exit_code == 2
    assert isinstance(refused.value, ValueError)  # callers that catch ValueError still do


def test_the_aws_request_checks_use_the_same_name_rule() -> None:
    assert aws_names.check_name is check_name
    assert aws_names.RequestError is aws.RequestError is RequestError
