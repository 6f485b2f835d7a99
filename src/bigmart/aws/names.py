"""What SageMaker accepts as names, role ARNs, instance types and S3 URIs.

Checked before a request leaves, so a typo fails at once with a sentence that names the
argument and says what would be right, instead of a ValidationException minutes later.
The patterns are the botocore service model's own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# The name rule applies to local names too, so it lives in ``contract``; the error in
# ``errors``. Both are re-exported here for the AWS request checks' callers.
from bigmart.contract import check_name as check_name
from bigmart.errors import RequestError as RequestError

CHANNEL_NAME = re.compile(r"[A-Za-z0-9.\-_]{1,64}")
ROLE_ARN = re.compile(r"arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+")
# A bucket name (3-63 of lower-case letters, digits, dots, hyphens), then an optional key.
S3_URI = re.compile(r"s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?")
ENVIRONMENT_KEY = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
MAX_ENVIRONMENT = 100


def check_s3_uri(value: str, what: str) -> str:
    """An ``s3://bucket/prefix`` URI (SageMaker reads and writes nothing else here)."""
    if not isinstance(value, str) or not S3_URI.fullmatch(value) or len(value) > 1024:
        raise RequestError(
            f"{what} {value!r} is not an S3 URI: expected s3://<bucket>/<prefix>, "
            "e.g. s3://my-bucket/bigmart/train/"
        )
    return value


def check_image_uri(value: str) -> str:
    """An image reference such as ``<account>.dkr.ecr.<region>.amazonaws.com/bigmart:1``."""
    if (
        not isinstance(value, str)
        or not value
        or len(value) > 255
        or any(c.isspace() for c in value)
    ):
        raise RequestError(
            f"image URI {value!r} is invalid: expected <registry>/<repository>:<tag>, "
            "e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/bigmart:latest"
        )
    return value


def check_role_arn(value: str) -> str:
    """An IAM role ARN: SageMaker assumes it to read S3, pull the image and write logs."""
    if not isinstance(value, str) or not ROLE_ARN.fullmatch(value):
        raise RequestError(
            f"role {value!r} is not an IAM role ARN: expected "
            "arn:aws:iam::<12-digit account>:role/<name>, a role SageMaker may assume"
        )
    return value


def check_instance(instance_type: str, instance_count: int) -> None:
    """An ``ml.*`` instance type and a count of at least one."""
    if not isinstance(instance_type, str) or not instance_type.startswith("ml."):
        hint = f" (did you mean ml.{instance_type}?)" if isinstance(instance_type, str) else ""
        raise RequestError(
            f"instance type {instance_type!r} is not a SageMaker instance type: "
            f"they start with 'ml.', e.g. ml.m5.large{hint}"
        )
    if not isinstance(instance_count, int) or instance_count < 1:
        raise RequestError(f"instance count {instance_count!r} must be a whole number >= 1")


def check_environment(environment: Mapping[str, str] | None) -> dict[str, str]:
    """Container environment variables: at most 100, names like shell variables, string
    values (SageMaker rejects numbers)."""
    env = dict(environment or {})
    if len(env) > MAX_ENVIRONMENT:
        raise RequestError(f"{len(env)} environment variables given; SageMaker allows 100")
    for key, value in env.items():
        if not isinstance(key, str) or not ENVIRONMENT_KEY.fullmatch(key):
            raise RequestError(
                f"environment variable name {key!r} is invalid: use letters, digits and _ "
                "and do not start with a digit"
            )
        if not isinstance(value, str):
            raise RequestError(
                f"environment variable {key}={value!r} must be a string, e.g. {str(value)!r}"
            )
    return env
