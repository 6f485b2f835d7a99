"""AWS failures as one line a person can act on.

botocore's messages say what the service refused, rarely what to do about it. ``explain``
turns the errors users actually meet (no credentials, no region, a missing IAM permission,
a quota, a bad parameter, a missing resource, throttling, an expired token) into one line
ending in the fix; anything else stays ``<Code>: <Message>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    SSOError,
    TokenRetrievalError,
)

from bigmart.contract import EndpointStatus
from bigmart.errors import BigmartError


class JobFailed(BigmartError, RuntimeError):
    """A training or transform job (or an endpoint) that ended Failed or Stopped.

    ``failure_reason`` is SageMaker's FailureReason: for this image, the first line of
    ``/opt/ml/output/failure``, so it usually names the file, row or hyper-parameter.
    """

    def __init__(
        self,
        kind: str,
        name: str,
        status: str,
        failure_reason: str,
        description: Mapping[str, Any] | None = None,
    ) -> None:
        self.kind = kind
        self.name = name
        self.status = status
        self.failure_reason = failure_reason
        self.description: dict[str, Any] = dict(description or {})
        super().__init__(f"{kind} {name} {status.lower()}: {failure_reason}")


class EndpointFailed(JobFailed):
    """An endpoint that ended Failed or OutOfService instead of InService."""


class WaitTimeout(BigmartError, TimeoutError):
    """Waiting gave up; the job or endpoint itself goes on in AWS."""

    status_code = 504


ACCESS_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}
NOT_FOUND = {
    "ResourceNotFound",
    "ResourceNotFoundException",
    "RepositoryNotFoundException",
    "NoSuchBucket",
    "NoSuchKey",
    "404",
}
THROTTLED = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
}
EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
BAD_CREDENTIALS = {
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
}


def explain(error: BaseException) -> str:
    """One line saying what went wrong and what to do about it."""
    return " ".join(_explain(error).split())


def _explain(error: BaseException) -> str:
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return (
            "No AWS credentials found: run `aws configure` (or `aws sso login --profile NAME` "
            "and set AWS_PROFILE=NAME), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY."
        )
    if isinstance(error, SSOError | TokenRetrievalError):
        return f"Your AWS SSO session has expired or is missing ({error}): run `aws sso login`."
    if isinstance(error, NoRegionError):
        return (
            "No AWS region is set: set AWS_REGION (e.g. AWS_REGION=eu-west-1), give a region "
            "explicitly, or add `region = ...` to your profile in ~/.aws/config."
        )
    if isinstance(error, EndpointConnectionError | ConnectTimeoutError):
        url = getattr(error, "kwargs", {}).get("endpoint_url", "AWS")
        return (
            f"Could not connect to {url}: check your network or proxy, and the region name "
            "(a misspelt region has no endpoint); AWS_ENDPOINT_URL overrides the address."
        )
    if isinstance(error, ClientError):
        return _explain_client_error(error)
    if isinstance(error, JobFailed | ValueError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _explain_client_error(error: ClientError) -> str:
    details = error.response.get("Error", {})
    code = str(details.get("Code", "Unknown"))
    message = str(details.get("Message", "")).strip() or str(error)
    operation = error.operation_name or "the request"
    lowered = message.lower()

    if code in EXPIRED or "security token included in the request is expired" in lowered:
        return (
            f"Your AWS credentials have expired ({operation}): refresh them "
            "(`aws sso login`, or new temporary keys) and retry."
        )
    if code in BAD_CREDENTIALS:
        return (
            f"AWS does not accept these credentials ({message}): check AWS_PROFILE or the "
            "access key pair, and that this machine's clock is right."
        )
    if code in ACCESS_DENIED:
        return (
            f"Access denied for {operation}: {message} Grant the IAM permission it names to "
            "your user or role (or use a profile that has it) and retry."
        )
    if code == "ResourceLimitExceeded":
        return (
            f"An AWS quota stops {operation}: {message} Request an increase in Service Quotas "
            "(Amazon SageMaker, for this instance type and job kind), pick another instance "
            "type, or stop jobs and endpoints you no longer need."
        )
    if code in THROTTLED:
        return (
            f"AWS is throttling {operation} ({message}): wait a minute and retry; more "
            "retries with AWS_MAX_ATTEMPTS=10 and AWS_RETRY_MODE=adaptive."
        )
    if code == "ResourceInUse" or "already existing" in lowered or "already exists" in lowered:
        return (
            f"Already exists or in use: {message} Choose a new name (SageMaker job names are "
            "unique per account and region, even after the job ends) or delete the old one."
        )
    if code == "ValidationException" and "assume" in lowered and "role" in lowered:
        return (
            f"SageMaker cannot use the role: {message} The role must exist and its trust "
            "policy must allow the principal sagemaker.amazonaws.com."
        )
    if code in NOT_FOUND or (
        code == "ValidationException" and ("could not find" in lowered or "not exist" in lowered)
    ):
        return (
            f"Not found: {message} Check the name, and that the region is the one it was "
            "created in (AWS_REGION)."
        )
    if code == "ValidationException":
        return f"SageMaker rejected {operation}: {message} Correct the parameter it names."
    if code == "ModelError":
        status = error.response.get("OriginalStatusCode", "an error")
        original = error.response.get("OriginalMessage", message)
        where = error.response.get("LogStreamArn", "the endpoint's CloudWatch log")
        return f"The model container answered {status}: {original} (its log: {where})."
    if code == "ModelNotReadyException":
        return (
            f"The endpoint is not ready ({message}): wait until it is "
            f"{EndpointStatus.IN_SERVICE} and retry."
        )
    if code in {"ServiceUnavailable", "InternalFailure", "InternalServerError"}:
        return f"AWS had an internal error in {operation} ({message}): retry in a moment."
    return f"{code}: {message}"
