import math

import numpy as np
import pytest

from bigmart.schema import (
    FEATURES,
    RowNumbering,
    SchemaError,
    columns_from_records,
    columns_from_rows,
    parse_number,
)

ROW = [
    "FDA15",
    "9.3",
    "Low Fat",
    "0.016",
    "Dairy",
    "249.8",
    "OUT049",
    "1999",
    "Medium",
    "Tier 1",
    "Supermarket Type1",
]


def test_rows_in_file_order_become_typed_columns():
    batch = columns_from_rows([ROW, [*ROW[:1], "", *ROW[2:]]])
    assert batch["Item_Identifier"] == ["FDA15", "FDA15"]
    np.testing.assert_array_equal(batch["Item_MRP"], [249.8, 249.8])
    assert batch["Item_Weight"][0] == 9.3 and math.isnan(batch["Item_Weight"][1])


def test_twelve_columns_are_the_training_layout_and_the_target_is_ignored():
    batch = columns_from_rows([[*ROW, "3735.1"]])
    assert set(batch) == set(FEATURES)


def test_wrong_column_count_names_the_row():
    with pytest.raises(SchemaError) as error:
        columns_from_rows([ROW, ROW[:5]], RowNumbering(first_row=1))
    assert error.value.row == 2
    assert "expected 11 columns" in str(error.value)


def test_text_in_a_numeric_column_names_row_and_column():
    bad = list(ROW)
    bad[5] = "cheap"
    with pytest.raises(SchemaError) as error:
        columns_from_rows([ROW, ROW, bad], RowNumbering(source="f.csv", first_row=2))
    assert (error.value.row, error.value.column, error.value.source) == (4, "Item_MRP", "f.csv")
    assert str(error.value) == "f.csv, line 4, column 'Item_MRP': expected a number, got 'cheap'"


@pytest.mark.parametrize("value", ["inf", "-Infinity", float("inf")])
def test_non_finite_numbers_are_rejected(value):
    with pytest.raises(SchemaError, match="finite"):
        parse_number(value, "Item_MRP", 1, RowNumbering())


@pytest.mark.parametrize("value", [None, "", "NA", "nan", "  "])
def test_missing_text_is_a_missing_value(value):
    assert math.isnan(parse_number(value, "Item_MRP", 1, RowNumbering()))


def test_booleans_are_not_numbers():
    with pytest.raises(SchemaError, match="expected a number"):
        parse_number(True, "Item_MRP", 1, RowNumbering())


def test_records_with_missing_keys_get_missing_values_and_extra_keys_are_ignored():
    record = dict(zip(FEATURES, ROW, strict=True))
    del record["Outlet_Size"]
    record["Item_Outlet_Sales"] = 1.0
    batch = columns_from_records([record])
    assert batch["Outlet_Size"] == [None]


def test_records_reject_objects_in_a_category():
    record = dict(zip(FEATURES, ROW, strict=True))
    record["Item_Type"] = {"nested": 1}
    with pytest.raises(SchemaError) as error:
        columns_from_records([record, record], RowNumbering(first_row=1))
    assert (error.value.row, error.value.column) == (1, "Item_Type")


def _parsed_cell_by_cell(column: list[str]) -> list[float]:
    return [parse_number(value, "Item_Weight", 1, RowNumbering()) for value in column]


@pytest.mark.parametrize(
    "column",
    [
        ["9.3", "", " 9.3 ", "NA", "9.3", "1e3", "  ", "-0", "nan", "1_000"],
        ["1999"] * 40 + ["", "N/A"] * 5,
    ],
)
def test_text_cells_with_gaps_parse_as_they_do_one_by_one(column):
    """A CSV column with missing cells is parsed once per distinct cell, with
    ``parse_number``'s rules (missing text, strip, Python's float)."""
    rows = [[*ROW[:1], value, *ROW[2:]] for value in column]
    got = columns_from_rows(rows)["Item_Weight"]
    np.testing.assert_array_equal(got, _parsed_cell_by_cell(column))
    assert got.dtype == np.float64


@pytest.mark.parametrize("bad", ["heavy", "inf", "-Infinity"])
def test_a_bad_cell_after_gaps_is_still_named_by_row(bad):
    column = ["9.3", "", "9.3", bad, "", bad]
    rows = [[*ROW[:1], value, *ROW[2:]] for value in column]
    with pytest.raises(SchemaError) as error:
        columns_from_rows(rows, RowNumbering(first_row=1))
    assert (error.value.row, error.value.column) == (4, "Item_Weight")


def test_category_cells_are_trimmed_and_missing_text_is_none():
    rows = [[*ROW[:8], value, *ROW[9:]] for value in [" Small ", "", "NA", "Medium", "null"]]
    assert columns_from_rows(rows)["Outlet_Size"] == ["Small", None, None, "Medium", None]
    rows = [[*ROW[:8], value, *ROW[9:]] for value in ["High", 1999, None]]
    assert columns_from_rows(rows)["Outlet_Size"] == ["High", "1999", None]
