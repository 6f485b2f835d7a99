"""Walking the members of a (compressed) tar stream with our own header parser, bounded.

``tarfile`` is not used to walk archives from elsewhere: it keeps every member it has seen
(a million empty members cost hundreds of MB), reads a pax header of any claimed size whole,
and recurses once per pax global header (a chain of them raises ``RecursionError``). Here
each 512-byte header is parsed with ``TarInfo.frombuf`` alone, pax and GNU long-name data is
read only up to ``EXTENSION_LIMIT``, headers are counted against the caller's cap, and
nothing is kept but the current member: memory is bounded by the caps, not by the input.
The callers decide which members they take (``archive`` for model.tar.gz, ``local.reports``
for output.tar.gz); every refusal here is a ``TarStreamError`` of one line naming the
archive, and the member where there is one.
"""

from __future__ import annotations

import bz2
import gzip
import itertools
import lzma
import tarfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO

from bigmart.clipping import clip
from bigmart.model.artifact import megabytes

#: A pax or GNU long-name header's data: a few hundred bytes in practice.
EXTENSION_LIMIT = 64 << 10
#: Members' data is read and skipped in pieces of this size, whatever their size.
CHUNK = 1 << 20
REGULAR_TYPES = frozenset({tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE})
_SPARSE = "a sparse file"
_EXTENSION_TYPES = frozenset(
    {tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK}
)
#: Types whose header's size counts no data after it (as tarfile reads them): links,
#: directories, devices, FIFOs.
_DATALESS_TYPES = frozenset(tarfile.SUPPORTED_TYPES) - REGULAR_TYPES - {tarfile.GNUTYPE_SPARSE}
#: A compressed stream's first bytes, and what reads it.
_DECOMPRESSORS: tuple[tuple[bytes, Callable[[Any], Any]], ...] = (
    (b"\x1f\x8b", lambda raw: gzip.GzipFile(fileobj=raw, mode="rb")),
    (b"BZh", bz2.BZ2File),
    (b"\xfd7zXZ\x00", lzma.LZMAFile),
)
#: What a broken compressed stream raises while it is read.
_CORRUPT = (EOFError, zlib.error, lzma.LZMAError, gzip.BadGzipFile)


class TarStreamError(ValueError):
    """An archive refused while its headers were walked; the message is one line naming
    the archive (and the member)."""


@dataclass(frozen=True)
class TarMember:
    """One member's header, after any pax or GNU long-name override."""

    name: str
    type: bytes
    size: int
    #: "<archive>: member '<name>'", how messages about this member begin.
    where: str

    @property
    def is_regular(self) -> bool:
        return self.type in REGULAR_TYPES

    @property
    def is_dir(self) -> bool:
        return self.type == tarfile.DIRTYPE


class TarStream:
    """The members of the tar ``stream``, one at a time (``for member in tar``).

    ``label`` names the archive and ``kind`` says what it should be in messages ("model
    archive"); ``holds`` (what such an archive holds) ends refusals of its shape. More than
    ``max_headers`` headers, pax and GNU long-name ones included, are refused. A member's
    data is read with ``chunks``/``read`` before the next member is asked for, or skipped.
    """

    def __init__(
        self, stream: BinaryIO, *, label: str, kind: str, max_headers: int, holds: str = ""
    ) -> None:
        self._stream = stream
        self.label = label
        self.kind = kind
        self.max_headers = max_headers
        self._holds = f"; {holds}" if holds else ""
        #: Headers read so far (0 after the walk: an empty archive).
        self.headers = 0
        self._current: TarMember | None = None
        self._unstarted = False  # the current member's data not yet asked for
        self._unread = 0  # the current member's data and padding not yet read

    def __iter__(self) -> Iterator[TarMember]:
        overrides: dict[str, str] = {}  # from a pax or GNU long-name header, for the next member
        for count in itertools.count(1):
            self._skip_rest()
            block = self._read_exact(tarfile.BLOCKSIZE)
            if not block or block.count(0) == tarfile.BLOCKSIZE:
                return  # end of the archive (tar ends with zero blocks; some writers omit them)
            self.headers = count
            if count > self.max_headers:
                raise TarStreamError(
                    f"{self.label}: more than {self.max_headers:,} members{self._holds}"
                )
            if len(block) < tarfile.BLOCKSIZE:
                raise self._unreadable("truncated header")
            try:
                header = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
            except tarfile.TarError as error:
                raise self._unreadable(f"member {count}: {error}") from None
            name = overrides.pop("path", header.name)
            size = _size(overrides.pop("size", None), header.size, self.label, name)
            overrides.clear()
            where = f"{self.label}: member {clip(name, 120)!r}"
            if header.type in _EXTENSION_TYPES:
                data = self._read_extension(size, where)
                if header.type == tarfile.XHDTYPE:
                    overrides = self._pax_records(data, where)
                elif header.type == tarfile.XGLTYPE:
                    if {"path", "size"} & set(self._pax_records(data, where)):
                        raise TarStreamError(f"{where}: a global header may not set path or size")
                elif header.type == tarfile.GNUTYPE_LONGNAME:
                    overrides = {"path": data.rstrip(b"\0").decode("utf-8", "surrogateescape")}
                # GNUTYPE_LONGLINK names a link target: the caller sees the link next.
                continue
            if header.type == tarfile.GNUTYPE_SPARSE:  # its data is no plain byte range
                raise TarStreamError(f"{where} is {_SPARSE}{self._holds}")
            member = TarMember(name, header.type, size, where)
            self._current, self._unstarted = member, True
            self._unread = 0 if header.type in _DATALESS_TYPES else _blocks(size)
            yield member

    def chunks(self, member: TarMember) -> Iterator[bytes]:
        """The data of ``member`` (the one just yielded), in pieces of at most ``CHUNK``
        bytes: bounded memory whatever its size."""
        if member is not self._current or not self._unstarted:
            raise ValueError(f"{member.where}: not the current member, or already read")
        self._unstarted = False
        remaining = 0 if member.type in _DATALESS_TYPES else member.size
        while remaining:
            chunk = self._read(min(remaining, CHUNK))
            if not chunk:
                raise self._truncated(member)
            self._unread -= len(chunk)
            remaining -= len(chunk)
            yield chunk
        self._skip_rest()

    def read(self, member: TarMember) -> bytes:
        """The data of ``member`` whole (check its size first)."""
        return b"".join(self.chunks(member))

    def _skip_rest(self) -> None:
        """Read past the current member's unread data and padding."""
        while self._unread:
            chunk = self._read(min(self._unread, CHUNK))
            if not chunk:
                assert self._current is not None
                raise self._truncated(self._current)
            self._unread -= len(chunk)

    def _read_extension(self, size: int, where: str) -> bytes:
        """A pax or GNU long-name header's data (bounded: a few KB is all they ever need)."""
        if size > EXTENSION_LIMIT:
            raise TarStreamError(
                f"{where}: an extended header of {megabytes(size)}, over the "
                f"{megabytes(EXTENSION_LIMIT)} limit"
            )
        data = self._read_exact(_blocks(size))
        if len(data) < _blocks(size):
            raise TarStreamError(f"{where}: the archive ends inside this member (truncated)")
        return data[:size]

    def _pax_records(self, data: bytes, where: str) -> dict[str, str]:
        """The ``length key=value\\n`` records of a pax header."""
        records: dict[str, str] = {}
        position = 0
        while position < len(data) and data[position] != 0:
            space = data.find(b" ", position)
            try:
                length = int(data[position:space])
            except ValueError:
                length = 0
            record = data[position : position + length]
            if space < 0 or length <= space - position or not record.endswith(b"\n"):
                raise TarStreamError(f"{where}: malformed pax header")
            key, equals, value = record[space - position + 1 : -1].partition(b"=")
            if not equals:
                raise TarStreamError(f"{where}: malformed pax header")
            text_key = key.decode("utf-8", "surrogateescape")
            if text_key.startswith("GNU.sparse."):
                raise TarStreamError(f"{where} is {_SPARSE}{self._holds}")
            records[text_key] = value.decode("utf-8", "surrogateescape")
            position += length
        return records

    def _read_exact(self, size: int) -> bytes:
        """Up to ``size`` bytes: fewer only at the end of the stream."""
        return _read_up_to(self._read, size)

    def _read(self, size: int) -> bytes:
        """Up to ``size`` bytes of the stream; a broken one as a ``TarStreamError``."""
        try:
            return self._stream.read(size)
        except _CORRUPT as error:
            raise self._unreadable(f"corrupt or truncated: {error}") from None
        except OSError as error:
            if error.filename is not None:
                raise  # a file of ours, not the archive's bytes: not the archive's fault
            raise self._unreadable(error.strerror or str(error)) from None

    def _unreadable(self, reason: str) -> TarStreamError:
        return TarStreamError(f"{self.label}: not a readable {self.kind} ({reason})")

    def _truncated(self, member: TarMember) -> TarStreamError:
        return TarStreamError(f"{member.where}: the archive ends inside this member (truncated)")


@contextmanager
def decompressed(raw: BinaryIO, *, label: str, kind: str) -> Iterator[BinaryIO]:
    """The tar stream inside ``raw``, by the compression its first bytes announce (gzip,
    bzip2, xz, or none). ``raw`` need not seek (an S3 body): the bytes read to tell are
    read again."""
    magic = _read_up_to(raw.read, 6)
    if not magic:
        article = "an" if kind[:1] in "aeiou" else "a"
        raise TarStreamError(f"{label}: empty file, not {article} {kind}")
    replayed = _Replayed(magic, raw)
    for prefix, opener in _DECOMPRESSORS:
        if magic.startswith(prefix):
            with opener(replayed) as stream:
                yield stream
            return
    yield replayed  # type: ignore[misc]  # an uncompressed tar, or junk the headers refuse


def _read_up_to(read: Callable[[int], bytes], size: int) -> bytes:
    """``size`` bytes from ``read``, which may return fewer at a time; fewer only at the
    end of the stream."""
    parts: list[bytes] = []
    while size:
        chunk = read(size)
        if not chunk:
            break
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)


class _Replayed:
    """``rest`` with ``head`` (its first bytes, already read) put back in front."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        if not self._head:
            return self._rest.read(size)
        if size is None or size < 0:
            data, self._head = self._head + self._rest.read(), b""
            return data
        data, self._head = self._head[:size], self._head[size:]
        return data


def _size(pax_size: str | None, header_size: int, label: str, name: str) -> int:
    if pax_size is None:
        size = header_size
    else:
        try:
            size = int(pax_size)
        except ValueError:
            size = -1
    if size < 0:
        raise TarStreamError(f"{label}: member {clip(name, 120)!r} has an invalid size")
    return size


def _blocks(size: int) -> int:
    return -(-size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
