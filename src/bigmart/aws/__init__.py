"""Running this image on SageMaker itself: ECR, training, endpoints, batch transform.

One import for the CLI; each room lives in its own module:

- ``aws_images``: the ECR repository, a registry login, build and push;
- ``aws_training``: the CreateTrainingJob request, start, follow status and log;
- ``aws_endpoints``: model, endpoint config, endpoint, invoke, delete;
- ``aws_transform``: TransformOptions (exported here too: ``transform_job_request`` takes
  one) as CreateTransformJob, start, follow;
- ``aws_errors``: ``JobFailed`` and ``explain`` (an AWS error as one line with the fix);
- ``aws_names``: the argument checks done before any request leaves.

Every function takes boto3 clients (or a ``boto3.Session`` to make them), so credentials
come from boto3's standard chain (environment, profile, SSO, instance role) and nothing is
stored; tests point the same clients at a local moto server.
"""

from __future__ import annotations

import boto3

from bigmart.aws.endpoints import (
    MAX_INVOKE_BYTES,
    create_endpoint,
    create_endpoint_config,
    create_model,
    delete_endpoint,
    deploy,
    invoke_endpoint,
    wait_for_endpoint,
)
from bigmart.aws.errors import EndpointFailed, JobFailed, WaitTimeout, explain
from bigmart.aws.images import ImageError, ensure_repository, push_image, registry_login
from bigmart.aws.logs import LogTail
from bigmart.aws.training import (
    start_training_job,
    training_job_request,
    wait_for_training_job,
)
from bigmart.aws.transform import (
    start_transform_job,
    transform_job_request,
    wait_for_transform_job,
)
from bigmart.errors import RequestError
from bigmart.local.transform.options import TransformOptions

__all__ = [
    "MAX_INVOKE_BYTES",
    "EndpointFailed",
    "ImageError",
    "JobFailed",
    "LogTail",
    "RequestError",
    "TransformOptions",
    "WaitTimeout",
    "create_endpoint",
    "create_endpoint_config",
    "create_model",
    "delete_endpoint",
    "deploy",
    "ensure_repository",
    "explain",
    "invoke_endpoint",
    "push_image",
    "registry_login",
    "session",
    "start_training_job",
    "start_transform_job",
    "training_job_request",
    "transform_job_request",
    "wait_for_endpoint",
    "wait_for_training_job",
    "wait_for_transform_job",
]


def session(region: str | None = None, profile: str | None = None) -> boto3.Session:
    """A boto3 Session from the standard credential chain.

    ``region`` None takes the chain's (AWS_REGION, AWS_DEFAULT_REGION, the profile); with
    none anywhere, making a client raises NoRegionError, which ``explain`` turns into the
    fix. ``AWS_ENDPOINT_URL`` (honoured by boto3 itself) points every client elsewhere,
    e.g. at a local moto server.
    """
    return boto3.Session(region_name=region, profile_name=profile)
