"""Plan.resolve: the job's options, then the server's /execution-parameters, then SageMaker's
defaults, under the options' own names."""

import pytest

from bigmart.local.transform.options import TransformOptions
from bigmart.local.transform.plan import MIB, Plan


def test_sagemakers_defaults_when_neither_job_nor_server_says():
    plan = Plan.resolve(TransformOptions(), {})
    assert (plan.batch_strategy, plan.max_payload_mb, plan.max_concurrent_transforms) == (
        "MultiRecord",
        6,
        1,
    )
    assert plan.max_payload_bytes == 6 * MIB
    assert plan.described == {
        "BatchStrategy": "MultiRecord",
        "MaxPayloadInMB": 6,
        "MaxConcurrentTransforms": 1,
    }


def test_the_servers_execution_parameters_fill_what_the_job_leaves_open():
    server = {"BatchStrategy": "single_record", "MaxPayloadInMB": 2, "MaxConcurrentTransforms": 3}
    plan = Plan.resolve(TransformOptions(), server)
    assert plan.described == {
        "BatchStrategy": "SingleRecord",
        "MaxPayloadInMB": 2,
        "MaxConcurrentTransforms": 3,
    }


def test_the_jobs_options_win_over_the_server():
    options = TransformOptions(
        batch_strategy="MultiRecord", max_payload_mb=1, max_concurrent_transforms=4
    )
    server = {"BatchStrategy": "SINGLE_RECORD", "MaxPayloadInMB": 2, "MaxConcurrentTransforms": 3}
    assert Plan.resolve(options, server).described == {
        "BatchStrategy": "MultiRecord",
        "MaxPayloadInMB": 1,
        "MaxConcurrentTransforms": 4,
    }


def test_zero_payload_is_unbounded_and_concurrency_is_at_least_one():
    plan = Plan.resolve(TransformOptions(max_payload_mb=0), {"MaxConcurrentTransforms": 0})
    assert plan.max_payload_bytes is None
    assert plan.described["MaxPayloadInMB"] == 0
    assert plan.max_concurrent_transforms == 1


def test_options_keep_their_names_and_the_content_type_loses_its_parameters():
    options = TransformOptions(
        content_type="text/csv; charset=utf-8",
        accept="application/jsonlines",
        split_type="None",
        assemble_with="None",
        compression_type="Gzip",
    )
    plan = Plan.resolve(options, {})
    assert plan.content_type == "text/csv"
    assert (plan.accept, plan.split_type, plan.assemble_with, plan.join_source) == (
        "application/jsonlines",
        "None",
        "None",
        "None",
    )
    assert plan.compression_type == "Gzip"


def test_filters_are_compiled_and_the_whole_record_filter_is_none():
    plan = Plan.resolve(TransformOptions(input_filter=" $ ", output_filter="$[0,-1]"), {})
    assert plan.input_filter is None
    assert plan.output_filter is not None
    assert plan.output_filter(["a", "b", "c"]) == ["a", "c"]


@pytest.mark.parametrize(
    ("options", "per_record"),
    [
        ({}, False),
        ({"batch_strategy": "SingleRecord"}, True),
        ({"join_source": "Input"}, True),
        ({"input_filter": "$[1:]"}, True),
        ({"output_filter": "$[1:]"}, False),  # filtering answers needs no record
    ],
)
def test_records_are_handled_one_by_one_only_when_an_option_needs_it(options, per_record):
    assert Plan.resolve(TransformOptions(**options), {}).per_record is per_record


def test_the_settings_line_says_what_a_zero_payload_limit_means():
    assert Plan.resolve(TransformOptions(max_payload_mb=0), {}).settings_line == (
        "BatchStrategy=MultiRecord, MaxPayloadInMB=0 (no payload limit), MaxConcurrentTransforms=1"
    )
    assert "MaxPayloadInMB=6," in Plan.resolve(TransformOptions(), {}).settings_line
