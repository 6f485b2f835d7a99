"""bigmart.aws.transform: TransformOptions as CreateTransformJob, start and follow."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from bigmart import aws
from bigmart.local.transform.options import TransformOptions
from support.aws_server import (
    ACCOUNT,
    REGION,
)
from support.sagemaker import BUCKET, NOW

# --- batch transform ---------------------------------------------------------------------


def transform_request(options: TransformOptions) -> dict[str, Any]:
    return aws.transform_job_request(
        "bigmart-score",
        "bigmart-demo",
        f"{BUCKET}/score/",
        f"{BUCKET}/out/",
        options,
        "ml.m5.large",
    )


def test_transform_request_with_default_options_sets_only_what_differs_from_sagemaker() -> None:
    assert transform_request(TransformOptions()) == {
        "TransformJobName": "bigmart-score",
        "ModelName": "bigmart-demo",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"{BUCKET}/score/"}},
            "ContentType": "text/csv",
            "SplitType": "Line",
            "CompressionType": "None",
        },
        "TransformOutput": {"S3OutputPath": f"{BUCKET}/out/", "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@pytest.mark.parametrize(
    ("option", "field"),
    [
        ({"content_type": "application/jsonlines"}, "TransformInput.ContentType"),
        ({"accept": "application/json"}, "TransformOutput.Accept"),
        ({"split_type": "None"}, "TransformInput.SplitType"),
        ({"batch_strategy": "SingleRecord"}, "BatchStrategy"),
        ({"batch_strategy": "MultiRecord"}, "BatchStrategy"),
        ({"max_payload_mb": 20}, "MaxPayloadInMB"),
        ({"max_payload_mb": 0}, "MaxPayloadInMB"),  # 0 is a setting: unbounded
        ({"max_concurrent_transforms": 4}, "MaxConcurrentTransforms"),
        ({"assemble_with": "None"}, "TransformOutput.AssembleWith"),
        ({"join_source": "Input"}, "DataProcessing.JoinSource"),
        ({"input_filter": "$[1:]"}, "DataProcessing.InputFilter"),
        ({"output_filter": "$[0,-1]"}, "DataProcessing.OutputFilter"),
        ({"compression_type": "Gzip"}, "TransformInput.CompressionType"),
    ],
)
def test_each_transform_option_sets_exactly_its_field(option: dict[str, Any], field: str) -> None:
    base = flatten(transform_request(TransformOptions()))
    changed = flatten(transform_request(TransformOptions(**option)))
    difference = {k: v for k, v in changed.items() if base.get(k, object()) != v}
    assert difference == {field: next(iter(option.values()))}
    assert set(base) - set(changed) == set()


def test_transform_job_on_moto_and_its_end(boto: boto3.Session) -> None:
    sm = boto.client("sagemaker")
    options = TransformOptions(batch_strategy="MultiRecord", max_payload_mb=6, join_source="Input")
    request = transform_request(options)
    aws.start_transform_job(sm, request)
    lines: list[str] = []
    final = aws.wait_for_transform_job(sm, "bigmart-score", echo=lines.append, poll_seconds=0)
    assert final["TransformJobStatus"] == "Completed"
    assert final["BatchStrategy"] == "MultiRecord"
    assert final["TransformInput"]["SplitType"] == "Line"
    assert lines == ["transform job bigmart-score: Completed", f"output: {BUCKET}/out/"]


def test_a_failed_transform_raises_with_its_reason(boto: boto3.Session) -> None:
    sm = boto.client("sagemaker")
    answer = {
        "TransformJobName": "t",
        "TransformJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:transform-job/t",
        "ModelName": "m",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": BUCKET}}
        },
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "CreationTime": NOW,
    }
    reason = "ClientError: See job logs for more information"
    with Stubber(sm) as stub:
        stub.add_response("describe_transform_job", {**answer, "TransformJobStatus": "InProgress"})
        stub.add_response(
            "describe_transform_job",
            {**answer, "TransformJobStatus": "Failed", "FailureReason": reason},
        )
        with pytest.raises(aws.JobFailed) as failure:
            aws.wait_for_transform_job(sm, "t", echo=lambda _: None, poll_seconds=0)
    assert failure.value.failure_reason == reason
    assert failure.value.kind == "transform job"
