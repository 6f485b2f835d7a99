import re
from pathlib import Path
from unittest import mock

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bigmart import codecs
from bigmart.codecs import (
    CSV,
    JSON,
    JSON_LINES,
    NotAcceptable,
    UnsupportedMediaType,
    choose_accept,
    decode,
    decode_batch_records,
    decode_predictions,
    encode_after_header,
    encode_csv,
    encode_json,
    encode_json_lines,
    media_type,
)
from bigmart.data.reading import read_labelled
from bigmart.schema import (
    FEATURES,
    MISSING_TEXT,
    MISSING_WORDS,
    TRAINING_COLUMNS,
    SchemaError,
)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, CSV),
        ("text/csv; charset=utf-8", CSV),
        ("APPLICATION/JSON", JSON),
        ("application/x-jsonlines", JSON_LINES),
        ("application/jsonl", JSON_LINES),
    ],
)
def test_media_type(header, expected):
    assert media_type(header) == expected


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, CSV),
        ("", CSV),
        ("*/*", CSV),
        ("application/json", JSON),
        ("text/html, application/jsonlines", JSON_LINES),
        ("text/csv;q=0.2, application/json;q=0.9", JSON),
        ("application/*", JSON),
    ],
)
def test_choose_accept(accept, expected):
    assert choose_accept(accept) == expected


def test_unknown_accept_and_content_type():
    with pytest.raises(NotAcceptable):
        choose_accept("image/png")
    with pytest.raises(UnsupportedMediaType):
        decode(b"x", "application/xml")


def test_encoders_write_the_shortest_float32_text():
    predictions = np.array([3735.138, 443.4228], dtype=np.float32)
    assert encode_csv(predictions) == b"3735.138\n443.4228\n"
    assert encode_json(predictions) == b'{"predictions":[3735.138,443.4228]}'
    assert encode_json_lines(predictions) == (b'{"prediction":3735.138}\n{"prediction":443.4228}\n')


def test_batch_records_tell_a_leading_csv_header_row():
    names = "Item_Identifier,Item_Weight,Item_Fat_Content,Item_Visibility,Item_Type,Item_MRP,"
    names += "Outlet_Identifier,Outlet_Establishment_Year,Outlet_Size,Outlet_Location_Type,"
    names += "Outlet_Type"
    row = "FDW58,20.75,Low Fat,0.0075,Snack Foods,107.8,OUT049,1999,Medium,Tier 1,Supermarket Type1"
    batch, header = decode_batch_records(f"{names}\n{row}\n".encode(), "text/csv")
    assert header and batch is not None and len(batch["Item_MRP"]) == 1
    assert decode_batch_records(f"\ufeff{names}\n".encode(), None) == (None, True)
    batch, header = decode_batch_records(row.encode(), "text/csv")
    assert not header and len(batch["Item_MRP"]) == 1
    batch, header = decode_batch_records(b'{"Item_MRP": 3, "Item_Identifier": "x"}', JSON)
    assert not header
    with pytest.raises(SchemaError, match="empty"):
        decode_batch_records(b"\n", "text/csv")


def test_a_header_rows_output_line_is_the_column_name_or_null():
    predictions = np.array([3735.138], dtype=np.float32)
    assert encode_after_header(predictions, CSV) == b"Item_Outlet_Sales\n3735.138\n"
    assert encode_after_header(predictions, JSON) == b'{"predictions":[null,3735.138]}'
    assert encode_after_header(predictions, JSON_LINES) == (
        b'{"prediction":null}\n{"prediction":3735.138}\n'
    )
    empty = np.empty(0, dtype=np.float32)
    assert encode_after_header(empty, JSON) == b'{"predictions":[null]}'


def test_csv_header_without_a_feature_is_an_error():
    with pytest.raises(SchemaError, match="lacks column"):
        decode(b"Item_Identifier,Item_MRP\nFDA15,3\n", "text/csv")


def test_split_form_needs_all_features():
    with pytest.raises(SchemaError, match="lacks"):
        decode(b'{"columns": ["Item_MRP"], "data": [[1]]}', "application/json")


def _head(csv_path, rows: int) -> bytes:
    return b"".join(csv_path.read_bytes().splitlines(keepends=True)[: rows + 1])


def _records(csv_text: bytes) -> list[dict[str, str]]:
    lines = csv_text.decode().splitlines()
    names = lines[0].split(",")
    return [dict(zip(names, line.split(","), strict=True)) for line in lines[1:]]


def _rows(batch) -> list[tuple[str, ...]]:
    """The batch row by row, as text so that missing values (NaN) compare equal."""
    return list(zip(*([str(v) for v in values] for values in batch.values()), strict=True))


@pytest.mark.parametrize("content_type", [CSV, JSON, JSON_LINES])
def test_a_utf8_bom_before_the_body_is_dropped(real_test_csv, content_type):
    head = _head(real_test_csv, 5)
    records = _records(head)
    body = {
        CSV: head,
        JSON: orjson.dumps({"instances": records}),
        JSON_LINES: b"\n".join(orjson.dumps(r) for r in records),
    }[content_type]
    with_bom = decode(b"\xef\xbb\xbf" + body, content_type)
    assert _rows(with_bom) == _rows(decode(body, content_type))
    assert len(with_bom["Item_MRP"]) == 5


RECORD = {"Item_Identifier": "FDW58", "Item_MRP": 107.8622, "Outlet_Identifier": "OUT049"}
NO_COLUMN = [
    ("unknown-key", b'{"instances": [{"foo": 1}]}', JSON, 1),
    ("lower-case", b'{"instances": [{"item_identifier": "FDW58", "item_mrp": 107.8}]}', JSON, 1),
    ("bare-list", orjson.dumps([RECORD, {"id": 7}]), JSON, 2),
    ("mixed-list", orjson.dumps([["FDW58"] + [None] * 10, RECORD, {}]), JSON, 3),
    ("jsonlines-document", orjson.dumps({"instances": [RECORD]}), JSON_LINES, 1),
    ("jsonlines-second", orjson.dumps(RECORD) + b'\n{"foo": 1}\n', JSON_LINES, 2),
]


@pytest.mark.parametrize(
    ("name", "body", "content_type", "row"), NO_COLUMN, ids=[c[0] for c in NO_COLUMN]
)
def test_a_record_with_no_big_mart_column_is_refused_naming_its_row(name, body, content_type, row):
    with pytest.raises(SchemaError, match="no Big Mart column") as caught:
        decode(body, content_type)
    assert caught.value.row == row
    assert "Item_Identifier" in caught.value.reason
    if name == "lower-case":
        assert "'item_mrp' -> 'Item_MRP'" in caught.value.reason


def test_unknown_keys_beside_a_known_one_are_ignored():
    batch = decode(orjson.dumps({"instances": [{**RECORD, "id": 1, "target": 2}]}), JSON)
    assert batch["Item_MRP"].tolist() == [107.8622]


def test_newline_separated_json_documents_are_read_in_turn(real_test_csv):
    records = _records(_head(real_test_csv, 4))
    values = [list(r.values()) for r in records]
    documents = [
        orjson.dumps(records[0]),
        orjson.dumps({"instances": [records[1]]}),
        b"",
        orjson.dumps({"columns": list(records[2]), "data": [values[2]]}),
        orjson.dumps([records[3]]),
    ]
    batch = decode(b"\n".join(documents) + b"\n", JSON)
    assert _rows(batch) == _rows(decode(orjson.dumps(records), JSON))
    single = orjson.dumps({"instances": records}, option=orjson.OPT_INDENT_2)
    assert _rows(decode(single, JSON)) == _rows(batch)  # one document over many lines


@pytest.mark.parametrize(
    ("body", "row", "message"),
    [
        (b'{"Item_MRP": 1}\n{"Item_MRP": "cheap"}\n', 2, "expected a number"),
        (b'{"instances": [{"Item_MRP": 1}, {"Item_MRP": 2}]}\n{"foo": 1}', 3, "no Big Mart"),
        (b'{"Item_MRP": 1}\n{oops\n', 2, "malformed JSON on line 2"),
        (b'{"Item_MRP": 1}\n\n{"columns": ["Item_MRP"], "data": [[1]]}', 2, 'line 3: "columns"'),
    ],
    ids=["bad-cell", "no-column", "malformed-line", "split-form-lacks-columns"],
)
def test_newline_separated_json_documents_number_rows_across_documents(body, row, message):
    with pytest.raises(SchemaError, match=message) as caught:
        decode(body, JSON)
    assert caught.value.row == row


def test_one_malformed_json_document_over_many_lines_keeps_its_message():
    with pytest.raises(SchemaError, match=r"^row 1: malformed JSON: unexpected end of data"):
        decode(b'{\n  "instances": [\n', JSON)
    with pytest.raises(SchemaError, match=r"^malformed JSON: unexpected content after"):
        decode(b'{"Item_MRP": 1} x', JSON)


def test_codecs_and_the_batch_client_import_no_model_module():
    """Codecs know nothing of models (design.md): importing them, or the transform client
    that uses them, loads no featurizer, predictor, artifact, ONNX Runtime or scikit-learn."""
    import subprocess
    import sys

    probe = (
        "import sys, bigmart.codecs, bigmart.local.transform.client\n"
        "import bigmart.local.transform.options\n"
        "model = ('bigmart.model.', 'onnxruntime', 'sklearn')\n"
        "print(sorted(m for m in sys.modules if m.startswith(model)))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert loaded.stdout.strip() == "[]", loaded.stdout


# -- the plain CSV path: no loop over rows, the same batches and errors as csv.reader ------

HEADER = ",".join(TRAINING_COLUMNS)
CELLS = [
    "FDW58",
    " NCD19 ",
    "20.75",
    " 9.3 ",
    "",
    "NA",
    "  ",
    "Low Fat",
    "0.0075",
    "0",
    "107.8622",
    "1999",
    "inf",
    "cheap",
    "1_000",
    "Medium",
    "Tier 1",
    "Item_MRP",
    "x" * 50,
]


def _outcome(function, body):
    try:
        return "ok", function(body)
    except SchemaError as error:
        return "error", (str(error), error.row, error.column)


def _same(fast, exact) -> bool:
    if fast[0] != exact[0] or fast[0] == "error":
        return fast == exact
    batch = fast[1][0] if isinstance(fast[1], tuple) else fast[1]
    other = exact[1][0] if isinstance(exact[1], tuple) else exact[1]
    if isinstance(fast[1], tuple) and fast[1][1] != exact[1][1]:
        return False
    if batch is None or other is None:
        return batch is other
    return _rows(batch) == _rows(other) and all(
        np.asarray(batch[name]).dtype == np.asarray(other[name]).dtype for name in batch
    )


def _both_ways(body: bytes) -> None:
    """decode and decode_batch_records give the same answer with and without the plain
    path."""
    decoders = [lambda b: decode(b, CSV), lambda b: decode_batch_records(b, CSV)]
    fast = [_outcome(function, body) for function in decoders]
    with mock.patch.object(codecs, "_plain_csv", lambda text: None):
        exact = [_outcome(function, body) for function in decoders]
    for got, expected in zip(fast, exact, strict=True):
        assert _same(got, expected), (body, got, expected)


@st.composite
def csv_bodies(draw) -> bytes:
    width = draw(st.sampled_from([11, 12, 11, 12, 10, 13, 1]))
    rows = [
        ",".join(draw(st.lists(st.sampled_from(CELLS), min_size=width, max_size=width)))
        for _ in range(draw(st.integers(1, 4)))
    ]
    if draw(st.booleans()):
        rows[draw(st.integers(0, len(rows) - 1))] = ",".join(CELLS[:11])  # a valid row
    if draw(st.booleans()):
        headers = [HEADER, " , ".join(FEATURES), "Item_MRP,Item_Type"]
        rows.insert(0, draw(st.sampled_from(headers)))
    if draw(st.booleans()):
        rows.insert(draw(st.integers(0, len(rows))), draw(st.sampled_from(["", " ", ","])))
    newline = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"]))
    text = newline.join(rows) + draw(st.sampled_from(["", newline]))
    if draw(st.integers(0, 5)) == 0:
        position = draw(st.integers(0, len(text)))
        text = text[:position] + draw(st.sampled_from(['"', "\0", "\r", '"a,b"'])) + text[position:]
    return text.encode()


@given(csv_bodies())
@settings(max_examples=400, deadline=None)
def test_plain_csv_reads_every_body_as_the_csv_reader_does(body):
    _both_ways(body)


def test_plain_csv_leaves_a_field_over_the_csv_limit_to_the_csv_reader():
    huge = ",".join([CELLS[0], "1" * 200_000, *CELLS[2:11]])
    _both_ways(f"{huge}\n{','.join(CELLS[:11])}\n".encode())
    with pytest.raises(SchemaError, match="malformed CSV: field larger than field limit"):
        decode(huge.encode(), CSV)


@pytest.mark.parametrize("header", [False, True])
@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_a_well_formed_csv_body_is_read_without_the_row_by_row_reader(
    real_test_csv, header, newline
):
    lines = real_test_csv.read_bytes().splitlines()[: 1 + 300]
    if not header:
        del lines[0]
    body = newline.join(lines) + newline
    with mock.patch.object(codecs.csv, "reader", side_effect=AssertionError("row by row")):
        batch = decode(body, CSV)
        records, has_header = decode_batch_records(body, CSV)
    assert has_header == header and len(batch["Item_MRP"]) == 300
    assert _rows(records) == _rows(batch)
    with mock.patch.object(codecs, "_plain_csv", lambda text: None):
        assert _rows(decode(body, CSV)) == _rows(batch)


@pytest.mark.parametrize("accept", [CSV, JSON, JSON_LINES])
def test_an_answer_decodes_back_to_its_predictions(accept):
    predictions = np.array([1.5, 2234.1234, 0.0001, 9999.9], dtype=np.float32)
    encoders = {CSV: encode_csv, JSON: encode_json, JSON_LINES: encode_json_lines}
    decoded = decode_predictions(encoders[accept](predictions), accept)
    assert decoded.dtype == np.float64
    assert decoded.astype(np.float32).tolist() == predictions.tolist()
    # a batch transform answer's header line (Item_Outlet_Sales, or null) is left out
    after_header = decode_predictions(encode_after_header(predictions, accept), accept)
    assert after_header.astype(np.float32).tolist() == predictions.tolist()


def test_a_sagemaker_style_answer_type_and_bad_answers():
    assert decode_predictions(b"30.4133586884", "text/csv; charset=utf-8").tolist() == [
        30.4133586884
    ]
    with pytest.raises(SchemaError, match=r"row 2.*expected a number"):
        decode_predictions(b"1.0\nabc\n", CSV)
    with pytest.raises(SchemaError, match=re.escape('expected {"predictions"')):
        decode_predictions(b'{"scores": [1]}', JSON)
    with pytest.raises(SchemaError, match="malformed JSON"):
        decode_predictions(b"{", JSON)
    with pytest.raises(UnsupportedMediaType):
        decode_predictions(b"x", "image/png")


# -- missing values and non-finite numbers (issue 15, item 2) ------------------------------

LINE = "FDA15,9.3,Low Fat,0.016047301,Dairy,249.8092,OUT049,1999,Medium,Tier 1,Supermarket Type1"
ROW = dict(zip(FEATURES, LINE.split(","), strict=True))
BODIES = {
    CSV: lambda record: ",".join(str(record.get(name, "")) for name in FEATURES).encode(),
    JSON: lambda record: orjson.dumps({"instances": [ROW, record]}),
    JSON_LINES: lambda record: orjson.dumps(ROW) + b"\n" + orjson.dumps(record) + b"\n",
}


def _last_row(batch) -> dict[str, object]:
    return {name: batch[name][-1] for name in FEATURES}


@pytest.mark.parametrize("content_type", [CSV, JSON, JSON_LINES])
@pytest.mark.parametrize("spelling", sorted(MISSING_TEXT))
def test_every_missing_spelling_is_a_missing_value_in_every_format(content_type, spelling):
    record = {**ROW, "Item_Weight": spelling, "Outlet_Size": f" {spelling} "}
    row = _last_row(decode(BODIES[content_type](record), content_type))
    assert np.isnan(row["Item_Weight"]) and row["Outlet_Size"] is None


@pytest.mark.parametrize("content_type", [JSON, JSON_LINES])
def test_json_null_and_an_absent_key_are_missing_values(content_type):
    record = {**ROW, "Item_Weight": None}
    del record["Outlet_Size"]
    row = _last_row(decode(BODIES[content_type](record), content_type))
    assert np.isnan(row["Item_Weight"]) and row["Outlet_Size"] is None


@pytest.mark.parametrize("content_type", [CSV, JSON, JSON_LINES])
@pytest.mark.parametrize("text", ["inf", "-inf", "Infinity", "NAN", "-nan", "n/a", "#N/A"])
def test_other_spellings_are_refused_in_every_format(content_type, text):
    body = BODIES[content_type]({**ROW, "Item_MRP": text})
    with pytest.raises(SchemaError) as caught:
        decode(body, content_type)
    assert caught.value.as_dict()["column"] == "Item_MRP"
    assert caught.value.row == (1 if content_type == CSV else 2)


@pytest.mark.parametrize("content_type", [JSON, JSON_LINES])
@pytest.mark.parametrize(
    "literal", ["1e999", "-1e999", "NaN", "Infinity", "-Infinity", "9" * 400], ids=str.__len__
)
@pytest.mark.parametrize("column", ["Item_MRP", "Item_Type"])
def test_a_non_finite_json_number_is_refused_naming_its_row_and_column(
    content_type, literal, column
):
    """Not JSON (orjson refuses it), but Python's json.dumps writes NaN and Infinity: the
    400 names the row and column, as for a CSV cell."""
    record = {name: value for name, value in ROW.items() if name != column}
    body = BODIES[content_type]({**record, column: 0}).replace(b":0}", f":{literal}}}".encode())
    with pytest.raises(SchemaError, match=re.escape(literal[:30])) as caught:
        decode(body, content_type)
    assert (caught.value.row, caught.value.column) == (2, column)


@pytest.mark.parametrize("depth", [1000, 1023])
def test_a_non_finite_json_number_nested_too_deep_to_reread_is_malformed(depth):
    body = b"[" * depth + b"NaN" + b"]" * depth
    with pytest.raises(SchemaError, match="malformed JSON") as caught:
        decode(body, JSON)
    assert caught.value.offset == depth


def test_a_non_finite_json_number_in_a_later_document_is_named_too():
    """Batch transform joins JSON documents with newlines: rows count across them."""
    last = orjson.dumps(ROW).replace(b'"249.8092"', b"NaN")
    body = orjson.dumps({"instances": [ROW, ROW]}) + b"\n" + last
    with pytest.raises(SchemaError, match="got 'NaN' \\(a missing value is null\\)") as caught:
        decode(body, JSON)
    assert (caught.value.row, caught.value.column) == (3, "Item_MRP")


def test_a_non_finite_json_number_under_an_unread_key_is_still_malformed():
    body = orjson.dumps([ROW]).replace(b"}]", b',"extra":NaN}]')
    with pytest.raises(SchemaError, match=r"^row 1: malformed JSON") as caught:
        decode(body, JSON)
    assert caught.value.offset == body.index(b"NaN")


def test_training_and_serving_read_the_same_spellings_as_missing(tmp_path):
    """One list (schema.MISSING_TEXT) for the training file's pandas read and for request
    bodies, so that the fitted cleaning meets a missing value as it did at training."""
    spellings = sorted(MISSING_TEXT)
    lines = [",".join(TRAINING_COLUMNS)]
    for word in [*spellings, "N/a"]:
        cells = {**ROW, "Item_Weight": word, "Outlet_Size": word}
        lines.append(",".join([*(cells[name] for name in FEATURES), "100"]))
    good, bad = lines[:-1], [lines[0], lines[-1]]
    (tmp_path / "good.csv").write_text("\n".join(good) + "\n")
    (tmp_path / "bad.csv").write_text("\n".join(bad) + "\n")
    trained = read_labelled(tmp_path / "good.csv").features
    served = decode("\n".join(good).encode(), CSV)
    assert _rows(trained) == _rows(served)
    assert np.isnan(trained["Item_Weight"]).all() and set(trained["Outlet_Size"]) == {None}
    with pytest.raises(SchemaError, match="expected a number, got 'N/a'"):
        read_labelled(tmp_path / "bad.csv")
    with pytest.raises(SchemaError, match="expected a number, got 'N/a'"):
        decode("\n".join(bad).encode(), CSV)


def test_the_readme_lists_exactly_the_missing_spellings():
    readme = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text().split())
    sentence = readme[readme.index("A missing value, in every format") :].split("(spaces")[0]
    assert sentence.endswith(f"one of the words {', '.join(f'`{w}`' for w in MISSING_WORDS)} ")
    assert "bigmart.schema.MISSING_TEXT" in readme


# -- malformed bodies name the row or the byte offset (issue 15, item 3) --------------------


@pytest.mark.parametrize("content_type", [CSV, JSON, JSON_LINES])
@pytest.mark.parametrize("body", [b"", b" \n\r\n "])
def test_an_empty_body_names_offset_0(content_type, body):
    with pytest.raises(SchemaError) as caught:
        decode(body, content_type)
    assert caught.value.as_dict() == {
        "error": "the request body is empty; send at least one row",
        "offset": 0,
    }


@pytest.mark.parametrize(
    ("body", "row"),
    [
        (f'{LINE}\n{LINE}\nFDA15,"9.3,x\n{LINE}\n', 3),  # a quote left open to the end
        (f'{",".join(FEATURES)}\n{LINE}\nFDA15,"9"x,{LINE}\n', 2),  # a header is row 0
        (f'"FDA15"x,{LINE}\n', 1),
    ],
)
def test_malformed_csv_names_the_row_it_starts_in(body, row):
    with pytest.raises(SchemaError, match="malformed CSV") as caught:
        decode(body.encode(), CSV)
    assert caught.value.row == row


@pytest.mark.parametrize("bom", [b"", codecs.BOM], ids=["", "after-a-bom"])
@pytest.mark.parametrize("content_type", [CSV, JSON, JSON_LINES])
def test_invalid_utf8_names_the_byte_offset_in_every_format(content_type, bom):
    body = BODIES[content_type]({**ROW, "Item_Type": "Snack"}).replace(b"Snack", b"Sn\xffck")
    body = bom + body
    with pytest.raises(SchemaError, match="not valid UTF-8") as caught:
        decode(body, content_type)
    assert caught.value.offset == body.index(b"\xff")


@pytest.mark.parametrize(
    ("body", "at", "row"),
    [
        (b'{"instances": [{"Item_MRP": 1},\n  {"Item_MRP": 2},\n  {"Item_MRP": 3,}]}', b",}", 3),
        (b'[{"Item_MRP": 1}, {"Item_Type": "a,\\"}]"}, {"Item_MRP": x}]', b"x}", 3),
        (b'{"columns": ["Item_MRP"], "data": [[1], [2], [oops]]}', b"oops", 3),
        (b'{"instances": [{"Item_MRP": 1}], "more": oops}', b"oops", None),  # past the rows
        (b'{"Item_Type": "\xc3\xa9", "Item_MRP": oops}', b"oops", None),  # offset in bytes
    ],
)
def test_malformed_json_names_the_byte_offset_and_the_row_where_the_records_show_it(body, at, row):
    with pytest.raises(SchemaError, match=r"malformed JSON: .* \(line \d+, column \d+\)$") as e:
        decode(body, JSON)
    assert (e.value.row, e.value.offset) == (row, body.index(at))
    with pytest.raises(SchemaError) as after_a_bom:
        decode(codecs.BOM + body, JSON)
    assert after_a_bom.value.offset == 3 + body.index(at)


@pytest.mark.parametrize("content_type", [JSON, JSON_LINES])
def test_a_malformed_json_line_names_its_row_and_byte_offset(content_type):
    body = orjson.dumps(ROW) + b"\n\n" + orjson.dumps(ROW) + b'\n{"Item_MRP": oops}\n'
    with pytest.raises(SchemaError, match=r"^row 3: malformed JSON on line 4: .*column 14") as e:
        decode(body, content_type)
    assert e.value.offset == body.index(b"oops")


@given(
    st.lists(
        st.dictionaries(st.sampled_from(FEATURES), st.text(alphabet='ab,[]{}"\\é :'), max_size=3),
        min_size=1,
        max_size=6,
    ),
    st.data(),
)
@settings(max_examples=300, deadline=None)
def test_the_row_of_a_json_error_is_the_record_it_falls_in(records, data):
    """Whatever the strings hold (commas, brackets, quotes, escapes), the row named is the
    record in which orjson stopped."""
    texts = [orjson.dumps(record).decode() for record in records]
    starts = [
        len('{"instances": [') + sum(len(t) + 1 for t in texts[:i]) for i in range(len(texts))
    ]
    document = '{"instances": [' + ",".join(texts) + "]}"
    row = data.draw(st.integers(0, len(texts) - 1))
    cut = data.draw(st.integers(starts[row] + 1, starts[row] + len(texts[row]) - 1))
    body = (document[:cut] + "\x01").encode()
    with pytest.raises(SchemaError, match="malformed JSON") as caught:
        decode(body, JSON)
    assert caught.value.row == row + 1, (body, caught.value)
