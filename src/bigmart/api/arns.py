"""Where ``bigmart api``'s ARNs say a resource lives: the region the client signed its
request for, in the account ``--account-id`` names.

boto3 signs every request with SigV4, whose Authorization header names the region
(``Credential=KEY/20240101/eu-west-1/sagemaker/aws4_request``). SageMaker's ARNs carry the
region the call went to, so code that reads a region or account out of an ARN (the SDK's
``get_training_job_name_from_training_job_arn``, botocore's ``ArnParser``) finds the one it
called. A request that is not signed (curl) is answered for ``DEFAULT_REGION``.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping

from bigmart.local.requests import LOCAL_ACCOUNT, ArnPlace

DEFAULT_REGION = "us-east-1"
#: No AWS account is involved: ARNs name this one unless ``--account-id`` names another.
DEFAULT_ACCOUNT = LOCAL_ACCOUNT
CREDENTIAL = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]{1,50})/")
ACCOUNT = re.compile(r"[0-9]{12}")
#: The partitions other than ``aws``, by their regions' prefixes (longest first).
PARTITIONS = (
    ("us-isob-", "aws-iso-b"),
    ("us-isof-", "aws-iso-f"),
    ("eu-isoe-", "aws-iso-e"),
    ("us-iso-", "aws-iso"),
    ("us-gov-", "aws-us-gov"),
    ("cn-", "aws-cn"),
)


def place(headers: Mapping[str, str], account: str = DEFAULT_ACCOUNT) -> ArnPlace:
    """The place of a request's resources, from its (lower-cased) headers."""
    region = signed_region(headers.get("authorization", "")) or DEFAULT_REGION
    partition = next((name for prefix, name in PARTITIONS if region.startswith(prefix)), "aws")
    return ArnPlace(region=region, account=account, partition=partition)


def signed_region(authorization: str) -> str | None:
    """The region a SigV4 Authorization header was signed for, None if it names none."""
    match = CREDENTIAL.search(authorization)
    return match[1] if match else None


def account_id(text: str) -> str:
    """An ``--account-id``: twelve digits, as in every ARN."""
    if not ACCOUNT.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an AWS account id (12 digits)")
    return text
