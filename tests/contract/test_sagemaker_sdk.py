"""The SageMaker Python SDK example in docs/sagemaker-sdk.md, run against moto: it sends the
requests the image expects."""

from __future__ import annotations

import importlib
import logging
import os
import re
import subprocess
import sys
import time
import types
import warnings
from pathlib import Path
from typing import Any

import pytest

from bigmart import aws
from bigmart.model.metrics import METRIC_DEFINITIONS
from support.aws_server import (
    ROLE_ARN,
    MotoServer,
)
from support.paths import REPO
from support.sagemaker import BUCKET, Requests

# --- the SageMaker Python SDK example in docs/sagemaker-sdk.md -----------------------------

GUIDE = REPO / "docs" / "sagemaker-sdk.md"
#: The setting the guide gives to silence the SDK's v2 deprecation notices.
QUIET = ("SAGEMAKER_SUPPRESS_V2_WARNING", "1")


def python_blocks(markdown: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", markdown.read_text(), flags=re.M | re.S)


def test_the_guide_says_how_to_silence_the_sdk_deprecation_notices() -> None:
    assert f"export {QUIET[0]}={QUIET[1]}" in GUIDE.read_text()


def test_with_the_documented_setting_import_sagemaker_prints_no_deprecation_notice() -> None:
    # The notice on import fires once per process, so it is seen in a fresh one only.
    pytest.importorskip("sagemaker", minversion="2.200")
    result = subprocess.run(
        [sys.executable, "-W", "default", "-c", "import sagemaker"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, QUIET[0]: QUIET[1]},
    )
    assert result.returncode == 0, result.stderr
    assert "deprecation" not in result.stderr.lower(), result.stderr


def test_the_sdk_example_in_the_docs_sends_the_requests_we_expect(
    local_aws: MotoServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # No SDK defaults from this machine's config files: an empty one stands in for both.
    # (A non-empty config is re-validated on every lookup, which costs seconds.)
    (tmp_path / "config.yaml").write_text("{}\n")
    monkeypatch.setenv("SAGEMAKER_ADMIN_CONFIG_OVERRIDE", str(tmp_path / "config.yaml"))
    monkeypatch.setenv("SAGEMAKER_USER_CONFIG_OVERRIDE", str(tmp_path / "config.yaml"))
    monkeypatch.setenv(*QUIET)  # as the guide says
    sagemaker = pytest.importorskip("sagemaker", minversion="2.200")
    # Each notice fires once per process: forget the ones earlier tests may have seen.
    deprecations = importlib.import_module("sagemaker.deprecations")
    monkeypatch.setattr(deprecations, "_v2_deprecation_warned", set())
    sdk_session_module = importlib.import_module("sagemaker.session")
    telemetry = importlib.import_module("sagemaker.telemetry.telemetry_logging")

    from bigmart.codecs import decode_csv
    from bigmart.model.hyperparameters import HyperParameters

    # The SDK reports usage to an AWS address: keep that on this machine.
    telemetry_calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        telemetry, "_send_telemetry_request", lambda *args, **_: telemetry_calls.append(args)
    )
    # The SDK sleeps 5-10 s between polls; moto answers at once, so skip the sleeping.
    fast_time = types.SimpleNamespace(**vars(time))
    fast_time.sleep = lambda _: None
    monkeypatch.setattr(sdk_session_module, "time", fast_time)

    boto = aws.session()
    sm_client, runtime_client = boto.client("sagemaker"), boto.client("sagemaker-runtime")
    sent = Requests()
    sent.attach(sm_client)
    sent.attach(runtime_client)
    sdk_session = sagemaker.Session(
        boto_session=boto, sagemaker_client=sm_client, sagemaker_runtime_client=runtime_client
    )
    monkeypatch.setattr(sagemaker, "Session", lambda *_, **__: sdk_session)
    local_aws.set_endpoint_results([{"Body": "1802.1174\n1419.3326\n", "ContentType": "text/csv"}])

    namespace: dict[str, Any] = {}
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        for block in python_blocks(GUIDE):
            exec(compile(block, "docs/sagemaker-sdk.md", "exec"), namespace)
    # With the guide's setting, nothing is printed about deprecation: no warning (the SDK's
    # are FutureWarnings) and no logged copy.
    noisy = [w for w in caught if issubclass(w.category, DeprecationWarning | FutureWarning)]
    assert noisy == [], [f"{w.filename}:{w.lineno}: {w.message}" for w in noisy]
    logged = [r.getMessage() for r in caplog.records if "deprecation" in r.getMessage().lower()]
    assert logged == []

    (training,) = sent.of("CreateTrainingJob")
    assert training["AlgorithmSpecification"]["TrainingImage"] == namespace["image_uri"]
    assert training["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert training["AlgorithmSpecification"]["MetricDefinitions"] == METRIC_DEFINITIONS
    assert training["RoleArn"] == ROLE_ARN
    assert training["HyperParameters"] == {"n_estimators": "300", "max_depth": "8", "cv_folds": "5"}
    HyperParameters.from_strings(training["HyperParameters"])  # names and values the image takes
    assert {
        c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"]
        for c in training["InputDataConfig"]
    } == {"training": f"{BUCKET}/data/train/", "validation": f"{BUCKET}/data/validation/"}
    for channel in training["InputDataConfig"]:
        source = channel["DataSource"]["S3DataSource"]
        assert (source["S3DataType"], source["S3DataDistributionType"]) == (
            "S3Prefix",
            "FullyReplicated",
        )
    assert training["ResourceConfig"]["InstanceType"] == "ml.m5.large"
    assert training["ResourceConfig"]["InstanceCount"] == 1
    assert training["OutputDataConfig"]["S3OutputPath"] == f"{BUCKET}/models/"

    (model,) = sent.of("CreateModel")
    assert model["ModelName"] == "bigmart-demo"
    assert model["PrimaryContainer"]["Image"] == namespace["image_uri"]
    assert model["PrimaryContainer"]["ModelDataUrl"].endswith("/output/model.tar.gz")
    (config,) = sent.of("CreateEndpointConfig")
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.m5.large"

    (invocation,) = sent.of("InvokeEndpoint")
    assert invocation["ContentType"] == "text/csv"
    body = invocation["Body"]
    columns = decode_csv(body.encode() if isinstance(body, str) else body)
    assert columns["Item_Identifier"] == ["FDW58", "FDW14"]  # the image's server reads it
    assert namespace["predictions"] == [["1802.1174"], ["1419.3326"]]

    (transform,) = sent.of("CreateTransformJob")
    ours = aws.transform_job_request(
        transform["TransformJobName"],
        "bigmart-demo",
        f"{BUCKET}/data/score/",
        f"{BUCKET}/predictions/",
        aws.TransformOptions(
            accept="text/csv", batch_strategy="MultiRecord", max_payload_mb=6, join_source="Input"
        ),
        "ml.m5.large",
    )
    for key in ("ModelName", "BatchStrategy", "MaxPayloadInMB", "DataProcessing"):
        assert transform.get(key) == ours.get(key), key
    for part in ("TransformInput", "TransformOutput", "TransformResources"):
        for key, value in ours[part].items():
            assert transform[part].get(key, "None" if key == "CompressionType" else None) == value

    assert sent.of("DeleteEndpoint") == [{"EndpointName": "bigmart-demo"}]
    assert sent.of("DeleteModel") == [{"ModelName": "bigmart-demo"}]
    assert sent.of("DeleteEndpointConfig") == [{"EndpointConfigName": "bigmart-demo"}]
