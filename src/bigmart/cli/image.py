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
    push.set_defaults(handler=run_push)


def run_push(args: argparse.Namespace) -> int:
    from bigmart import aws

    with aws_errors():
        uri = aws.push_image(
            aws.session(region=args.region),
            args.repository,
            tag=args.tag,
            engine=args.engine,
            context_dir=str(args.context),
        )
    print(uri)
    return 0
