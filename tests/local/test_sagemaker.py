"""local.sagemaker: SageMaker's requests run here, answered in SageMaker's own shapes.

Every answer is checked against botocore's service model (the shapes boto3 ships), so
"in SageMaker's shape" is a fact that the model checks, not a claim.
"""

from __future__ import annotations

from pathlib import Path

import botocore.session
import pytest
from botocore.validate import ParamValidator

from bigmart.local.job_logs import (
    TRAINING_LOG_GROUP,
    TRANSFORM_LOG_GROUP,
    describe_log_streams,
    get_log_events,
)
from bigmart.local.jobs import JobStore
from bigmart.local.lifecycle import RequestRefused
from bigmart.local.requests import (
    model_request,
    training_channels,
    training_job_request,
    transform_job_request,
    transform_options,
)
from bigmart.local.sagemaker import LocalSageMaker
from bigmart.local.transform.options import TransformOptions

FAST = {"n_estimators": "5", "max_depth": "4"}
SAGEMAKER = botocore.session.get_session().get_service_model("sagemaker")


def _valid(operation: str, answer: dict, part: str = "output") -> None:
    """``answer`` fits the operation's output (or input) shape in botocore's model."""
    model = SAGEMAKER.operation_model(operation)
    shape = model.output_shape if part == "output" else model.input_shape
    report = ParamValidator().validate(answer, shape)
    assert not report.has_errors(), report.generate_report()


def test_a_training_job_runs_and_is_described_in_sagemakers_shape(backend, synthetic_csv, tmp_path):
    request = training_job_request(
        "fit-1", "bigmart:latest", {"training": str(synthetic_csv)}, str(tmp_path / "runs"), FAST
    )
    assert backend.create_training_job(request)["TrainingJobArn"].endswith("training-job/fit-1")
    described = backend.describe_training_job(TrainingJobName="fit-1")
    _valid("DescribeTrainingJob", described)
    assert described["TrainingJobStatus"] == "Completed"
    assert Path(described["ModelArtifacts"]["S3ModelArtifacts"]).is_file()
    assert "validation:rmse" in {m["MetricName"] for m in described["FinalMetricDataList"]}
    assert described["HyperParameters"] == FAST
    listed = backend.list_training_jobs()
    _valid("ListTrainingJobs", listed)
    assert [s["TrainingJobName"] for s in listed["TrainingJobSummaries"]] == ["fit-1"]


def test_a_terminal_that_fails_does_not_end_the_job_and_the_log_keeps_every_line(
    synthetic_csv, tmp_path
):
    shown: list[str] = []

    def closed_terminal(line: str) -> None:
        shown.append(line)
        raise BrokenPipeError(32, "Broken pipe")

    backend = LocalSageMaker(JobStore(tmp_path / "state"), echo=closed_terminal)
    request = training_job_request(
        "fit-piped", "bigmart:latest", {"training": str(synthetic_csv)}, str(tmp_path), FAST
    )
    backend.create_training_job(request)
    described = backend.describe_training_job(TrainingJobName="fit-piped")
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    assert len(shown) == 1  # the terminal is not written again once it failed
    (stream,) = describe_log_streams(backend.store.home, TRAINING_LOG_GROUP, "fit-piped/")
    page = get_log_events(
        backend.store.home, TRAINING_LOG_GROUP, stream["logStreamName"], start_from_head=True
    )
    logged = [event["message"] for event in page["events"]]
    assert shown[0] in logged and len(logged) > 1


def test_a_training_job_that_fails_is_a_status_with_a_reason(backend, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("not,the,big,mart,columns\n1,2,3,4,5\n")
    request = training_job_request(
        "fit-bad", "bigmart:latest", {"training": str(bad)}, str(tmp_path / "runs"), FAST
    )
    backend.create_training_job(request)  # no exception: a failed job is a state
    described = backend.describe_training_job(TrainingJobName="fit-bad")
    _valid("DescribeTrainingJob", described)
    assert described["TrainingJobStatus"] == "Failed" and described["FailureReason"]


@pytest.mark.parametrize(
    ("request_change", "message"),
    [
        ({"HyperParameters": {"n_estimators": "-1"}}, "n_estimators"),
        ({"InputDataConfig": []}, "channel 'training' is required"),
    ],
    ids=["bad-hyper-parameter", "no-training-channel"],
)
def test_a_request_that_cannot_run_is_refused_and_leaves_no_record(
    backend, synthetic_csv, tmp_path, request_change, message
):
    request = training_job_request(
        "fit-no", "bigmart:latest", {"training": str(synthetic_csv)}, str(tmp_path), FAST
    )
    with pytest.raises(RequestRefused, match=message):
        backend.create_training_job({**request, **request_change})
    assert backend.store.get("fit-no") is None


def test_unknown_jobs_and_models_are_refused_by_name(backend):
    with pytest.raises(RequestRefused, match="'nothing'"):
        backend.describe_training_job(TrainingJobName="nothing")
    with pytest.raises(RequestRefused, match="'nothing'"):
        backend.describe_transform_job(TransformJobName="nothing")
    with pytest.raises(RequestRefused, match="'nothing'"):
        backend.describe_model(ModelName="nothing")


def test_models_are_created_described_and_deleted_with_their_own_names(backend, tmp_path):
    request = model_request("m", "bigmart:latest", str(tmp_path / "model.tar.gz"))
    _valid("CreateModel", request, part="input")
    backend.create_model(request)
    with pytest.raises(RequestRefused, match="already exists"):
        backend.create_model(request)
    described = backend.describe_model(ModelName="m")
    _valid("DescribeModel", described)
    backend.delete_model(ModelName="m")
    with pytest.raises(RequestRefused):
        backend.describe_model(ModelName="m")


def test_a_transform_job_runs_with_a_model_and_is_described(backend, trained_model, tmp_path):
    from bigmart.model.archive import pack

    archive = pack(trained_model, tmp_path / "model.tar.gz")
    source = tmp_path / "in"
    source.mkdir()
    (source / "rows.csv").write_text(
        "FDA15,9.3,Low Fat,0.016,Dairy,249.8092,OUT049,1999,Medium,Tier 1,Supermarket Type1\n"
    )
    backend.create_model(model_request("scorer", "bigmart:latest", str(archive)))
    request = transform_job_request(
        "score-1", "scorer", str(source), str(tmp_path / "out"), TransformOptions()
    )
    _valid("CreateTransformJob", request, part="input")
    backend.create_transform_job(request)
    described = backend.describe_transform_job(TransformJobName="score-1")
    _valid("DescribeTransformJob", described)
    assert described["TransformJobStatus"] == "Completed"
    assert float((tmp_path / "out" / "rows.csv.out").read_text()) > 0
    # The job's log (what `bigmart api` serves as CloudWatch Logs) ends with each object's
    # outcome and the job's, as a reader following it needs.
    (stream,) = describe_log_streams(backend.store.home, TRANSFORM_LOG_GROUP, "score-1/")
    page = get_log_events(
        backend.store.home, TRANSFORM_LOG_GROUP, stream["logStreamName"], start_from_head=True
    )
    messages = [event["message"] for event in page["events"]]
    assert any(m.startswith("Completed ") and m.endswith("(1 records)") for m in messages)
    assert messages[-1].startswith("Completed: 1 records")


@pytest.mark.parametrize(
    "options",
    [
        TransformOptions(),
        TransformOptions(
            content_type="application/jsonlines",
            accept="application/jsonlines",
            batch_strategy="SingleRecord",
            max_payload_mb=0,
            max_concurrent_transforms=2,
            join_source="Input",
            input_filter="$.features",
            output_filter="$.SageMakerOutput",
            compression_type="Gzip",
        ),
        TransformOptions(split_type="None", assemble_with="None"),  # a join needs Line
    ],
    ids=["defaults", "every-option", "split-and-assembly"],
)
def test_transform_options_survive_the_request_shape(options):
    request = transform_job_request("t", "m", "s3://b/in/", "s3://b/out/", options)
    _valid("CreateTransformJob", request, part="input")
    assert transform_options(request) == options


def test_training_requests_carry_their_channels(tmp_path):
    channels = {"training": "s3://b/train/", "validation": str(tmp_path)}
    request = training_job_request("t", "img", channels, "s3://b/out/", FAST)
    assert training_channels(request) == channels
    model = SAGEMAKER.operation_model("CreateTrainingJob").input_shape
    report = ParamValidator().validate({**request, "RoleArn": "arn:aws:iam::1:role/r"}, model)
    assert not report.has_errors(), report.generate_report()
