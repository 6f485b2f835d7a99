"""TransformOptions: inconsistent options are refused when the options are made."""

import pytest

from bigmart.local.transform.options import TransformOptions


@pytest.mark.parametrize("option", ["input_filter", "output_filter"])
def test_a_bad_filter_is_refused_when_the_options_are_made(option):
    with pytest.raises(ValueError, match=rf"^{option}: '\$\[1:': cannot read"):
        TransformOptions(**{option: "$[1:"})


@pytest.mark.parametrize("accept", ["application/json", "application/jsonlines"])
def test_csv_joined_with_its_input_is_written_as_csv_only(accept):
    with pytest.raises(ValueError, match="join_source=Input with text/csv input writes CSV"):
        TransformOptions(join_source="Input", accept=accept)
    assert TransformOptions(join_source="Input", accept="text/csv; charset=utf-8").accept
    assert TransformOptions(
        join_source="Input", content_type="application/jsonlines", accept=accept
    )


@pytest.mark.parametrize(("split_type", "assemble_with"), [("None", "Line"), ("Line", "None")])
def test_a_join_needs_one_output_per_input_record_before_any_job_starts(split_type, assemble_with):
    with pytest.raises(ValueError, match=r"^join_source=Input needs split_type=Line and assemble"):
        TransformOptions(join_source="Input", split_type=split_type, assemble_with=assemble_with)
