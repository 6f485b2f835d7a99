"""``bigmart image push``: build the image and push it to ECR (replaces build_and_push.sh)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bigmart.cli.remote import aws_errors


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    image = commands.add_parser("image", help="the product's image on ECR")
    actions = image.add_subparsers(dest="action", required=True, metavar="ACTION")
    push = actions.add_parser(
        "push", help="build the image, create the ECR repository if missing, log in, push"
    )
    push.add_argument("--repository", required=True, help="ECR repository name")
    push.add_argument("--region", help="AWS region (default: boto3's configuration)")
    push.add_argument("--tag", default="latest")
    push.add_argument("--engine", choices=["docker", "podman"], default="docker")
    push.add_argument(
        "--context",
        type=Path,
        default=Path("."),
        help="the folder holding the Dockerfile (default: .)",
    )
    push.add_argument(
        "--build-arg",
        action="append",
        default=[],
        type=build_variable,
        metavar="KEY=VALUE",
        help="a Dockerfile ARG for the build (repeatable)",
    )
    push.add_argument(
        "--base-image",
        help="the image to build on (the Dockerfile's BASE_IMAGE; default python:3.12-slim)",
    )
    push.epilog = (
        "BIGMART_ENGINE_FLAGS (e.g. '--storage-driver vfs') goes before every engine command, "
        "as for the local engines."
    )
    push.set_defaults(handler=run_push)


def build_variable(value: str) -> tuple[str, str]:
    """argparse type of ``--build-arg``: ``KEY=VALUE``, as the engines take it."""
    key, sep, variable = value.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {value!r}")
    return key.strip(), variable


def run_push(args: argparse.Namespace) -> int:
    from bigmart import aws

    variables = dict(args.build_arg)
    if args.base_image:
        variables["BASE_IMAGE"] = args.base_image
    with aws_errors():
        uri = aws.push_image(
            aws.session(region=args.region),
            args.repository,
            tag=args.tag,
            engine=args.engine,
            context_dir=str(args.context),
            build_variables=variables,
        )
    print(uri)
    return 0
