"""SageMaker's names, spelled once: environment variables, statuses, option values, exit
codes and units.

Every module that speaks the contract (the container, the local backend, the AWS backend,
the CLI) imports its names from here, as the SageMaker training toolkit's ``params.py``
does, so a misspelt status or variable is an ``AttributeError`` (and a lint error), not a
job that silently never ends. The values are SageMaker's own spellings; nothing here is bigmart's
choice except where a comment says so.
"""

from __future__ import annotations

import re
import signal
from typing import Final

from bigmart.errors import EXIT_FAILED as EXIT_FAILED  # re-exported: all exit codes here
from bigmart.errors import EXIT_USAGE as EXIT_USAGE
from bigmart.errors import RequestError


class Env:
    """Environment variables the container reads (SageMaker, or a local backend, sets them).
    Each constant is spelled as the variable it names."""

    #: The ``/opt/ml`` root (bigmart's: it lets the contract run outside a container).
    OPT_ML = "OPT_ML"
    SAGEMAKER_BIND_TO_PORT = "SAGEMAKER_BIND_TO_PORT"
    SAGEMAKER_MODEL_SERVER_WORKERS = "SAGEMAKER_MODEL_SERVER_WORKERS"
    MODEL_SERVER_WORKERS = "MODEL_SERVER_WORKERS"
    SAGEMAKER_MODEL_SERVER_TIMEOUT = "SAGEMAKER_MODEL_SERVER_TIMEOUT"
    MODEL_SERVER_TIMEOUT = "MODEL_SERVER_TIMEOUT"
    #: Batch transform: ``true`` in a transform job's container.
    SAGEMAKER_BATCH = "SAGEMAKER_BATCH"
    SAGEMAKER_MAX_PAYLOAD_IN_MB = "SAGEMAKER_MAX_PAYLOAD_IN_MB"
    SAGEMAKER_BATCH_STRATEGY = "SAGEMAKER_BATCH_STRATEGY"
    SAGEMAKER_MAX_CONCURRENT_TRANSFORMS = "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"
    #: The training job's name, which SageMaker gives ``train`` (it titles the report).
    TRAINING_JOB_NAME = "TRAINING_JOB_NAME"
    #: The address ``serve`` binds (bigmart's: the image keeps 0.0.0.0, local servers loopback).
    BIGMART_BIND_HOST = "BIGMART_BIND_HOST"
    #: A local endpoint's DataCaptureConfig with its endpoint and variant names, as JSON
    #: (bigmart's: ``serve`` captures locally; on SageMaker the platform does, and it is unset).
    BIGMART_DATA_CAPTURE = "BIGMART_DATA_CAPTURE"
    #: Where captured files wait for their upload to an ``s3://`` destination (bigmart's).
    BIGMART_CAPTURE_STAGING = "BIGMART_CAPTURE_STAGING"

    #: Where each setting may come from, first match wins.
    WORKERS: Final = (SAGEMAKER_MODEL_SERVER_WORKERS, MODEL_SERVER_WORKERS)
    TIMEOUT: Final = (SAGEMAKER_MODEL_SERVER_TIMEOUT, MODEL_SERVER_TIMEOUT)


DEFAULT_OPT_ML: Final = "/opt/ml"
DEFAULT_PORT: Final = 8080
DEFAULT_TIMEOUT_SECONDS: Final = 60


class JobStatus:
    """TrainingJobStatus and TransformJobStatus."""

    IN_PROGRESS: Final = "InProgress"
    COMPLETED: Final = "Completed"
    FAILED: Final = "Failed"
    STOPPING: Final = "Stopping"
    STOPPED: Final = "Stopped"
    #: The statuses a job ends in.
    TERMINAL: Final = (COMPLETED, FAILED, STOPPED)


class EndpointStatus:
    """EndpointStatus, plus ``Deleted``: the record bigmart keeps of a deleted endpoint
    (SageMaker forgets it)."""

    CREATING: Final = "Creating"
    IN_SERVICE: Final = "InService"
    UPDATING: Final = "Updating"
    SYSTEM_UPDATING: Final = "SystemUpdating"
    ROLLING_BACK: Final = "RollingBack"
    OUT_OF_SERVICE: Final = "OutOfService"
    DELETING: Final = "Deleting"
    FAILED: Final = "Failed"
    UPDATE_ROLLBACK_FAILED: Final = "UpdateRollbackFailed"
    DELETED: Final = "Deleted"


class BatchStrategy:
    """CreateTransformJob's BatchStrategy, as the request spells it."""

    MULTI_RECORD: Final = "MultiRecord"
    SINGLE_RECORD: Final = "SingleRecord"
    ALL: Final = (MULTI_RECORD, SINGLE_RECORD)
    #: SageMaker's default when neither the job nor the container says.
    DEFAULT: Final = MULTI_RECORD


#: The same strategies as the container sees them: ``SAGEMAKER_BATCH_STRATEGY`` and
#: ``/execution-parameters`` spell them MULTI_RECORD / SINGLE_RECORD.
BATCH_STRATEGY_TO_ENV: Final = {
    BatchStrategy.MULTI_RECORD: "MULTI_RECORD",
    BatchStrategy.SINGLE_RECORD: "SINGLE_RECORD",
}
BATCH_STRATEGY_FROM_ENV: Final = {env: request for request, env in BATCH_STRATEGY_TO_ENV.items()}
ENV_BATCH_STRATEGIES: Final = tuple(BATCH_STRATEGY_FROM_ENV)
DEFAULT_ENV_BATCH_STRATEGY: Final = BATCH_STRATEGY_TO_ENV[BatchStrategy.DEFAULT]


def batch_strategy_to_env(strategy: str) -> str:
    """``MultiRecord`` -> ``MULTI_RECORD``: a request's strategy as the container reads it."""
    return BATCH_STRATEGY_TO_ENV[strategy]


def batch_strategy_from_env(value: object) -> str | None:
    """``MULTI_RECORD`` (any case) -> ``MultiRecord``; None for anything else."""
    return BATCH_STRATEGY_FROM_ENV.get(str(value).strip().upper())


#: The CloudWatch Logs groups SageMaker writes a job's or an endpoint's log to.
TRAINING_LOG_GROUP: Final = "/aws/sagemaker/TrainingJobs"
TRANSFORM_LOG_GROUP: Final = "/aws/sagemaker/TransformJobs"
ENDPOINT_LOG_GROUP: Final = "/aws/sagemaker/Endpoints/{name}"


#: The option values a transform's split, assembly, join and compression take.
LINE: Final = "Line"
NONE: Final = "None"
INPUT: Final = "Input"
GZIP: Final = "Gzip"
#: TransformInput.SplitType (RecordIO and TFRecord are not supported here).
SPLIT_TYPES: Final = (LINE, NONE)
#: TransformOutput.AssembleWith.
ASSEMBLE_WITH: Final = (LINE, NONE)
#: DataProcessing.JoinSource.
JOIN_SOURCES: Final = (INPUT, NONE)
#: CompressionType of a training channel or a transform input.
COMPRESSION_TYPES: Final = (NONE, GZIP)


#: DataProcessing's InputFilter / OutputFilter default: the whole record.
DEFAULT_FILTER: Final = "$"

# -- exit codes --------------------------------------------------------------------------
# EXIT_FAILED (1) and EXIT_USAGE (2) come from ``errors``, whose classes carry them.
EXIT_OK: Final = 0
#: ``serve``: the model cannot be loaded, so the port is never bound.
EXIT_NO_MODEL: Final = 3
#: As a shell reports a process ended by a signal: 128 + its number.
SIGNAL_EXIT_BASE: Final = 128
EXIT_INTERRUPTED: Final = SIGNAL_EXIT_BASE + signal.SIGINT  # 130, Ctrl-C
EXIT_BROKEN_PIPE: Final = SIGNAL_EXIT_BASE + signal.SIGPIPE  # 141, the reader went away
EXIT_STOPPED: Final = SIGNAL_EXIT_BASE + signal.SIGTERM  # 143, SIGTERM: StopTrainingJob


def exit_code_for_signal(signum: int) -> int:
    """The exit code of a process ended by signal ``signum`` (143 for SIGTERM)."""
    return SIGNAL_EXIT_BASE + int(signum)


# -- payload units -----------------------------------------------------------------------
KIB: Final = 1024
#: SageMaker's "MB" in MaxPayloadInMB and the 6 MB InvokeEndpoint limit are MiB.
MIB: Final = 1024 * 1024
#: InvokeEndpoint's request limit, and MaxPayloadInMB's default.
REALTIME_MAX_PAYLOAD_MB: Final = 6
#: MaxPayloadInMB's upper bound (also of MaxPayloadInMB x MaxConcurrentTransforms).
MAX_PAYLOAD_MB: Final = 100

# -- resource names ----------------------------------------------------------------------
#: SageMaker's job and endpoint names: TrainingJobName, TransformJobName, EndpointName,
#: EndpointConfigName (the botocore service model's pattern). ModelName also allows inner
#: runs of hyphens, which this accepts too. Local names follow the same rule: a name is
#: also a folder name, so ``../x`` can never reach a path.
RESOURCE_NAME: Final = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
MAX_NAME_LENGTH: Final = 63


def check_name(value: str, what: str) -> str:
    """A job, model or endpoint name: 1-63 letters, digits and hyphens, starting and ending
    with a letter or digit; otherwise ``RequestError`` naming ``what``."""
    if (
        not isinstance(value, str)
        or len(value) > MAX_NAME_LENGTH
        or not RESOURCE_NAME.fullmatch(value)
    ):
        raise RequestError(
            f"{what} {value!r} is not a valid SageMaker name: use 1-63 letters, digits and "
            "hyphens, starting and ending with a letter or digit (e.g. bigmart-2024-06-01)"
        )
    return value
