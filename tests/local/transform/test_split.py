"""An object split into records and mini-batches: header, blank lines, line numbers, the
payload limit, BatchStrategy, SplitType None, unreadable input."""

import gzip
import io

import pytest

from bigmart.data import synthetic as synth
from bigmart.local.transform.options import TransformOptions
from bigmart.local.transform.plan import MIB, Plan
from bigmart.local.transform.split import (
    Batch,
    ObjectReader,
    RecordFailure,
    batches,
    read_header,
)

HEADER = ",".join(synth.TRAINING_COLUMNS[:-1])
ROW = "FDA15,9.3,Low Fat,0.016,Dairy,249.8,OUT049,1999,Medium,Tier 1,Supermarket Type1"


def split(
    data: bytes, gzipped: bool = False, text: bool = False, **options
) -> tuple[list[str] | None, list[Batch]]:
    plan = Plan.resolve(TransformOptions(**options), {})
    source = ObjectReader(io.BytesIO(data), gzipped, text)
    header, first_line, leftover = read_header(source, plan)
    return header, list(batches(source, plan, first_line, leftover))


@pytest.mark.parametrize("strategy", ["MultiRecord", "SingleRecord"])
def test_a_header_and_a_bom_are_taken_off_and_lines_keep_their_numbers(strategy):
    data = ("\ufeff" + HEADER + "\n" + ROW + "\n\n  \n" + ROW + "\r\n" + ROW).encode()
    header, found = split(data, batch_strategy=strategy)
    assert header == HEADER.split(",")
    assert [n for b in found for n in b.lines] == [2, 5, 6]
    assert b"".join(b.body for b in found) == (ROW + "\n").encode() * 3
    assert len(found) == (1 if strategy == "MultiRecord" else 3)


def test_a_first_line_that_is_not_all_column_names_is_a_record():
    header, found = split((ROW + "\n" + ROW + "\n").encode())
    assert header is None
    assert list(found[0].lines) == [1, 2]


def test_the_header_is_judged_after_the_input_filter():
    data = ("id," + HEADER + "\n" + "7," + ROW + "\n").encode()
    header, found = split(data, input_filter="$[1:]")
    assert header == ["id", *HEADER.split(",")]
    assert found == [Batch((ROW + "\n").encode(), [2])]


def test_blocks_are_cut_at_line_ends_under_the_payload_limit():
    line = (ROW + "\n").encode()
    data = line * (3 * MIB // len(line))
    _, found = split(data, max_payload_mb=1)
    assert len(found) == 3
    assert all(len(b.body) <= MIB and b.body.endswith(b"\n") for b in found)
    assert all(len(b.body) + len(line) > MIB for b in found[:-1])  # as full as allowed
    assert b"".join(b.body for b in found) == data
    assert [n for b in found for n in b.lines] == list(range(1, data.count(b"\n") + 1))


def test_record_batches_pack_filtered_records_under_the_limit_and_keep_them_for_a_join():
    line = ("7," + ROW + "\n").encode()
    data = line * (2 * MIB // len(line))
    _, found = split(data, max_payload_mb=1, input_filter="$[1:]", join_source="Input")
    assert len(found) == 2
    assert all(len(b.body) <= MIB for b in found)
    assert len(found[0].body) + len(ROW) + 1 > MIB  # as full as allowed
    first = found[0].records[0]
    assert (first.line, first.raw, first.payload) == (1, line.rstrip(), ROW.encode())
    assert b"".join(b.body for b in found) == (ROW + "\n").encode() * data.count(b"\n")


def test_records_are_kept_only_when_they_are_joined():
    _, found = split((ROW + "\n").encode(), batch_strategy="SingleRecord")
    assert found[0].records is None


@pytest.mark.parametrize("options", [{}, {"join_source": "Input"}])
def test_a_record_over_the_payload_limit_fails_naming_its_line(options):
    data = (ROW + "\n" + ROW + "\n").encode() + b"x" * (MIB + 10) + b"\n"
    with pytest.raises(RecordFailure, match=r"^line 3: a record is larger than MaxPayloadInMB"):
        split(data, max_payload_mb=1, **options)


def test_split_type_none_sends_the_object_whole_as_line_one():
    data = (HEADER + "\n" + ROW + "\n").encode()
    header, found = split(data, split_type="None", join_source="None")
    assert header is None
    assert found == [Batch(data, [1])]


def test_split_type_none_refuses_an_object_over_the_payload_limit():
    with pytest.raises(
        RecordFailure, match=r"^line 1: the object is over MaxPayloadInMB \(1 MiB\)"
    ):
        split(b"x" * (MIB + 1), split_type="None", max_payload_mb=1)


def test_an_empty_object_has_no_batch():
    assert split(b"") == (None, [])
    assert split(b"\n \n") == (None, [])


def test_a_truncated_gzip_stream_fails_naming_the_line_it_was_reading():
    packed = gzip.compress((ROW + "\n").encode() * 5000)
    with pytest.raises(RecordFailure, match=r"^line \d+: the gzip data is truncated or corrupt"):
        split(packed[: len(packed) // 2], gzipped=True)


@pytest.mark.parametrize("split_type", ["Line", "None"])
def test_a_gzip_object_read_as_text_fails_saying_it_looks_gzip_compressed(split_type):
    packed = gzip.compress((HEADER + "\n" + ROW + "\n").encode())
    with pytest.raises(RecordFailure) as failure:
        split(packed, text=True, split_type=split_type)
    assert str(failure.value) == (
        "line 1: the object is not UTF-8 text: it looks gzip-compressed (it starts with bytes "
        "1f 8b); use CompressionType=Gzip (--compression-type Gzip) or name it .gz"
    )
    assert split(packed, gzipped=True, text=True, split_type=split_type)[1]  # read as gzip
    assert split(packed, split_type=split_type)[1]  # not a text format: sent as it is


def test_a_record_over_an_unbounded_payload_says_there_is_no_payload_limit():
    with pytest.raises(RecordFailure, match=r"larger than 64 MiB, the most sent at once with "):
        split(b"x" * (64 * MIB + 2), max_payload_mb=0, batch_strategy="SingleRecord")
