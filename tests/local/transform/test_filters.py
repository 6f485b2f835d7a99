"""InputFilter/OutputFilter on one record: CSV cells and JSON values in, the selection out."""

import orjson
import pytest

from bigmart.local.transform.filters import (
    csv_cells,
    csv_line,
    filter_record,
    json_value,
    unwritable,
)
from bigmart.local.transform.jsonpath import compile_path


def test_a_csv_record_is_filtered_as_cells_and_written_back_as_csv():
    record = b'id-7,"Low Fat, really",9.3'
    assert filter_record(record, compile_path("$[1:]"), "text/csv") == b'"Low Fat, really",9.3'


def test_a_json_record_is_filtered_as_a_value():
    record = b'{"id": 7, "features": [1, 2]}'
    assert filter_record(record, compile_path("$.features"), "application/jsonlines") == b"[1,2]"


def test_no_filter_sends_the_record_unchanged():
    assert filter_record(b"anything, at all", None, "text/csv") == b"anything, at all"


def test_a_filter_that_does_not_fit_is_a_value_error_naming_the_filter():
    with pytest.raises(ValueError, match=r"^filter: .*no member"):
        filter_record(b'{"a": 1}', compile_path("$.b"), "application/jsonlines")


def test_malformed_csv_is_a_value_error():
    with pytest.raises(ValueError, match=r"^malformed CSV record: field larger than"):
        csv_cells(b"a," + b"x" * (1 << 20))


def test_text_that_is_not_json_is_a_number_or_else_a_string():
    assert json_value(b'{"a": 1}') == {"a": 1}
    assert json_value(b" 2.5 \n") == 2.5
    assert json_value(b"Low Fat") == "Low Fat"


def test_one_cell_or_a_list_of_cells_is_one_csv_line():
    assert csv_line(["a", "b,c"]) == b'a,"b,c"\n'
    assert csv_line(1.5) == b"1.5\n"


def test_a_record_too_deep_for_json_says_so():
    deep: list = []
    for _ in range(300):
        deep = [deep]
    with pytest.raises(orjson.JSONEncodeError) as error:
        orjson.dumps(deep)
    assert unwritable(error.value).startswith(
        "the record cannot be written as JSON: it is nested deeper than 255 levels"
    )
