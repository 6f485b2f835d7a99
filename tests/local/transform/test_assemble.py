"""Answers back to output: counts checked, errors mapped to their line, joins and the
output filter, AssembleWith None."""

import io

import orjson
import pytest

from bigmart.local.transform.assemble import joined_header, write_answer
from bigmart.local.transform.options import TransformOptions
from bigmart.local.transform.plan import Plan
from bigmart.local.transform.split import Batch, Record, RecordFailure

CSV_ROWS = [b"id-1,FDA15,9.3", b"id-2,DRC01,5.9"]


def written(batch: Batch, answer: tuple[int, str, bytes], **options) -> bytes:
    out = io.BytesIO()
    write_answer(batch, answer, out, Plan.resolve(TransformOptions(**options), {}))
    return out.getvalue()


def joined_batch(rows: list[bytes], first_line: int = 4) -> Batch:
    records = [Record(first_line + i, raw, raw) for i, raw in enumerate(rows)]
    return Batch(b"".join(r + b"\n" for r in rows), [r.line for r in records], records)


def test_csv_answers_are_written_as_they_are_with_a_final_line_end():
    assert written(Batch(b"a\nb\n", [2, 3]), (200, "text/csv", b"1.5\n2.5")) == b"1.5\n2.5\n"


def test_too_few_answers_fail_the_object_naming_the_batchs_lines():
    with pytest.raises(
        RecordFailure, match=r"^line 2: the server answered 1 records for a mini-batch of 2 "
    ):
        written(Batch(b"a\nb\n", [2, 3]), (200, "text/csv", b"1.5\n"))


def test_an_error_names_the_line_of_the_row_the_server_names():
    detail = orjson.dumps({"error": "not a number", "row": 2, "column": "Item_MRP"})
    with pytest.raises(RecordFailure) as failure:
        written(Batch(b"a\nb\n", [7, 9]), (400, "application/json", detail))
    assert (failure.value.line, failure.value.reason) == (
        9,
        "HTTP 400: column 'Item_MRP': not a number",
    )


def test_an_error_that_is_not_json_names_the_first_line():
    with pytest.raises(RecordFailure, match=r"^line 7: HTTP 500: worker lost$"):
        written(Batch(b"a\nb\n", [7, 9]), (500, "text/plain", b"worker lost"))


def test_a_json_answer_is_written_whole_then_a_line_end_as_sagemaker_assembles_it():
    body = b'{"predictions":[1.5,2.5]}'
    batch = Batch(b"a\nb\n", [1, 2])
    answer = (200, "application/json", body)
    assert written(batch, answer, accept="application/json") == body + b"\n"
    concatenated = written(batch, answer, accept="application/json", assemble_with="None")
    assert concatenated == body


@pytest.mark.parametrize(
    ("body", "found"),
    [(b'{"predictions":[1.5]}', "answered 1 records"), (b"[1.5, 2.5, 3.5]", "answered 3 records")],
)
def test_a_json_answer_is_decoded_to_count_its_records(body, found):
    with pytest.raises(RecordFailure, match=rf"^line 4: the server {found} for a mini-batch of 2"):
        written(Batch(b"a\nb\n", [4, 5]), (200, "application/json", body))


def test_a_json_answer_that_holds_no_predictions_fails_naming_the_line():
    with pytest.raises(RecordFailure, match=r"^line 4: the server's answer: expected "):
        written(Batch(b"a\nb\n", [4, 5]), (200, "application/json", b'{"error": 1}'))


def test_assemble_with_none_counts_the_records_too():
    with pytest.raises(RecordFailure, match=r"answered 1 records for a mini-batch of 2"):
        written(Batch(b"a\nb\n", [1, 2]), (200, "text/csv", b"1.5\n"), assemble_with="None")


def test_json_predictions_become_one_line_each_when_filtered():
    answer = (200, "application/json", b'{"predictions": [[1.5, 0], [2.5, 1]]}')
    output = written(Batch(b"a\nb\n", [1, 2]), answer, output_filter="$[0]")
    assert output == b"1.5\n2.5\n"


def test_an_output_filter_applies_with_assemble_with_none_too():
    answer = (200, "text/csv", b"1.5,a\n2.5,b\n")
    output = written(Batch(b"x\ny\n", [1, 2]), answer, output_filter="$[0]", assemble_with="None")
    assert output == b"1.5\n2.5\n"


def test_a_csv_join_appends_the_prediction_to_the_input_row():
    answer = (200, "text/csv", b"1.5\n2.5\n")
    assert written(joined_batch(CSV_ROWS), answer, join_source="Input") == (
        b"id-1,FDA15,9.3,1.5\nid-2,DRC01,5.9,2.5\n"
    )


def test_the_output_filter_selects_from_the_joined_row():
    answer = (200, "text/csv", b"1.5\n2.5\n")
    output = written(joined_batch(CSV_ROWS), answer, join_source="Input", output_filter="$[0,-1]")
    assert output == b"id-1,1.5\nid-2,2.5\n"


def test_json_records_join_as_sagemaker_does():
    rows = [b'{"id": 1}', b"[1, 2]"]
    answer = (200, "application/jsonlines", b"1.5\n2.5\n")
    output = written(
        joined_batch(rows), answer, content_type="application/jsonlines", join_source="Input"
    )
    assert [orjson.loads(line) for line in output.splitlines()] == [
        {"id": 1, "SageMakerOutput": 1.5},
        {"SageMakerInput": [1, 2], "SageMakerOutput": 2.5},
    ]


def test_a_filter_that_does_not_fit_an_answer_fails_its_line():
    answer = (200, "application/jsonlines", b'{"a": 1}\n{"b": 2}\n')
    with pytest.raises(RecordFailure, match=r"^line 3: filter: .*no member"):
        written(
            Batch(b"x\ny\n", [2, 3]),
            answer,
            content_type="application/jsonlines",
            output_filter="$.a",
        )


def test_assemble_with_none_writes_the_body_unchanged():
    answer = (200, "text/csv", b"1.5\n2.5")
    assert written(Batch(b"a\nb\n", [1, 2]), answer, assemble_with="None") == b"1.5\n2.5"


def test_the_joined_header_ends_with_the_prediction_column_through_the_filter():
    plan = Plan.resolve(TransformOptions(join_source="Input", output_filter="$[0,-1]"), {})
    assert joined_header(["id", "Item_MRP"], plan) == b"id,prediction\n"
