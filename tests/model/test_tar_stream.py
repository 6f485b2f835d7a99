"""The bounded tar walker: members in order with their overrides, data read or skipped,
any compression told by its first bytes, a stream that cannot seek."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile

import pytest

from bigmart.model.tar_stream import (
    CHUNK,
    TarStream,
    TarStreamError,
    decompressed,
)


class _Unseekable(io.RawIOBase):
    """A stream that reads in odd short pieces and cannot seek, as an S3 body."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._data.read(min(size, 7) if size and size > 0 else -1)


def _tar(members: list[tuple[str, bytes]], tar_format: int = tarfile.PAX_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tar_format) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("a-link")
        link.type, link.linkname = tarfile.SYMTYPE, "x" * 300  # a long target: an extension
        tar.addfile(link)
    return buffer.getvalue()


def _walk(data: bytes, read: set[str], max_headers: int = 100) -> list[tuple[str, bytes, int]]:
    """(name, type, data if read) of each member of the archive ``data``."""
    found = []
    with decompressed(_Unseekable(data), label="t.tar", kind="test archive") as stream:  # type: ignore[arg-type]
        tar = TarStream(stream, label="t.tar", kind="test archive", max_headers=max_headers)
        for member in tar:
            body = tar.read(member) if member.name in read else b""
            found.append((member.name, member.type, body))
    return found


@pytest.mark.parametrize(
    "compress",
    [lambda b: b, gzip.compress, bz2.compress, lzma.compress],
    ids=["plain", "gzip", "bzip2", "xz"],
)
@pytest.mark.parametrize("tar_format", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])
def test_members_come_in_order_read_or_skipped_whatever_the_compression(compress, tar_format):
    long_name = "deep/" + "n" * 150 + ".txt"  # past ustar's 100: a pax or GNU long name
    big = bytes(range(256)) * (CHUNK // 256 + 3)  # more than one chunk, not block-aligned
    members = [("skipped.bin", big[:-5]), (long_name, b"long"), ("read.bin", big), ("e", b"")]
    data = compress(_tar(members, tar_format))
    found = _walk(data, read={"read.bin", long_name, "e"})
    assert [(name, body) for name, _, body in found] == [
        ("skipped.bin", b""),
        (long_name, b"long"),
        ("read.bin", big),
        ("e", b""),
        ("a-link", b""),
    ]
    assert found[-1][1] == tarfile.SYMTYPE


def test_refusals_are_one_line_naming_the_archive():
    many = _tar([(f"m{i}", b"x") for i in range(5)])
    cases = {
        "more than 3 members": (many, 3),
        "member 'm0': the archive ends inside this member (truncated)": (many[:600], 100),
        "not a readable test archive (truncated header)": (many[:100], 100),
        "not a readable test archive (member 1: ": (b"junk" * 200, 100),
        "not a readable test archive (corrupt or truncated": (gzip.compress(many)[:-30], 100),
    }
    for expected, (data, cap) in cases.items():
        with pytest.raises(TarStreamError) as caught:
            _walk(data, read={"m0"}, max_headers=cap)
        message = str(caught.value)
        assert message.startswith("t.tar: ") and expected in message and "\n" not in message
    with pytest.raises(TarStreamError, match=r"^t\.tar: empty file, not a test archive$"):
        _walk(b"", read=set())


def test_a_member_is_read_once_and_only_while_current():
    data = _tar([("a", b"1"), ("b", b"2")])
    with decompressed(io.BytesIO(data), label="t.tar", kind="test archive") as stream:
        tar = TarStream(stream, label="t.tar", kind="test archive", max_headers=10)
        members = iter(tar)
        first = next(members)
        assert tar.read(first) == b"1"
        with pytest.raises(ValueError, match="already read"):
            tar.read(first)
        second = next(members)
        with pytest.raises(ValueError, match="not the current member"):
            tar.read(first)
        assert tar.read(second) == b"2"
