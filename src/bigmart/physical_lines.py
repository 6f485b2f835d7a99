"""A CSV file's bytes on their way to pandas, counted: the file's own line of each record.

pandas numbers rows, not lines: it skips blank and whitespace-only lines, and a quoted
field may span lines. Errors must name the line a person finds in an editor, so the bytes
pass through ``PhysicalLines``, which counts lines as they go and checks the text is UTF-8.
"""

from __future__ import annotations

import codecs
import io
from bisect import bisect_right
from typing import IO, Any

import numpy as np

from bigmart.schema import SchemaError

BLOCK_BYTES = 1 << 20

_NEWLINE, _QUOTE = ord("\n"), ord('"')
#: First bytes of a line that may be blank: pandas skips lines of only spaces and tabs.
_MAY_START_BLANK = np.isin(np.arange(256), list(b" \t\r"))


class PhysicalLines(io.RawIOBase):
    """A CSV file's bytes on their way to pandas, with the line number of every record.

    pandas skips blank and whitespace-only lines, and a quoted field may span lines, so its
    row count is not the file's line number. This stream counts the lines it passes on and
    keeps a few anchors (record number -> line) from which any record's line follows; the
    anchors of chunks already checked are dropped, so memory stays bounded. It also checks
    that the text is UTF-8: at the first bad byte it ends the stream before that line (the
    rows above are still checked first) and keeps an error naming the line and the byte.
    """

    def __init__(self, raw: IO[bytes], source: str, gzipped: bool = False) -> None:
        super().__init__()
        self.source = source
        self.error: SchemaError | None = None
        self.ended_in_quotes = False
        self._raw = raw
        self._gzipped = gzipped
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._tail = b""  # the incomplete last line read so far
        self._passed = 0  # bytes passed on
        self._ready = memoryview(b"")
        self._eof = False
        self._lines = 0  # lines passed on
        self._records = 0  # records (header and rows) begun in them
        self._in_quotes = False
        self._anchors: list[tuple[int, int]] = []  # (record, its line), by record

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._ready and not self._eof:
            self._ready = memoryview(self._next_lines())
        size = min(len(buffer), len(self._ready))
        buffer[:size] = self._ready[:size]
        self._ready = self._ready[size:]
        return size

    def line_of(self, record: int) -> int:
        """The file's line number of ``record`` (the header is record 1)."""
        index = bisect_right(self._anchors, record, key=lambda anchor: anchor[0]) - 1
        if index < 0:
            return record
        first_record, line = self._anchors[index]
        return line + record - first_record

    def forget_before(self, record: int) -> None:
        """Drop the anchors only records before ``record`` need."""
        index = bisect_right(self._anchors, record, key=lambda anchor: anchor[0]) - 1
        if index > 0:
            del self._anchors[:index]

    def _next_lines(self) -> bytes:
        """The next whole lines of the file (at its end, the last line too), counted."""
        block = self._raw.read(BLOCK_BYTES)
        data = self._tail + block
        bad = self._first_bad_byte(block, final=not block)
        if bad is not None:
            whole = data[: data.rfind(b"\n", 0, bad) + 1]
            self._count(whole)
            self.error = self._encoding_error(data, bad, len(whole))
            self.ended_in_quotes = self._in_quotes
            self._eof = True
        elif not block:
            whole = data
            self._count(data + b"\n" if data else b"")
            self._eof = True
        else:
            whole = data[: data.rfind(b"\n") + 1]
            self._count(whole)
        self._tail = data[len(whole) :]
        self._passed += len(whole)
        return whole

    def _first_bad_byte(self, block: bytes, *, final: bool) -> int | None:
        """Where in ``tail + block`` the first byte that is not UTF-8 is, if any."""
        pending = len(self._decoder.getstate()[0])  # held back from the last block
        try:
            self._decoder.decode(block, final)
        except UnicodeDecodeError as error:
            return len(self._tail) - pending + error.start
        return None

    def _encoding_error(self, data: bytes, bad: int, line_start: int) -> SchemaError:
        where = "the uncompressed file" if self._gzipped else "the file"
        return SchemaError(
            f"not UTF-8 text: byte 0x{data[bad]:02x} at offset {bad - line_start} of the line "
            f"(offset {self._passed + bad} of {where}); save the file as UTF-8",
            source=self.source,
            row=self._lines + 1,
        )

    def _count(self, data: bytes) -> None:
        """Count whole lines, noting which begin a record: not a blank line (pandas skips
        those) and not a line that goes on a quoted field."""
        text = np.frombuffer(data, np.uint8)
        ends = np.flatnonzero(text == _NEWLINE)
        if not ends.size:
            return
        starts = np.concatenate(([0], ends[:-1] + 1))
        begins = ~self._blank_lines(data, starts, ends)
        if self._in_quotes or _QUOTE in data:
            odd = np.diff(np.searchsorted(np.flatnonzero(text == _QUOTE), ends), prepend=0) % 2
            before = np.cumsum(odd) - odd + self._in_quotes  # quotes opened before each line
            begins &= before % 2 == 0
            self._in_quotes = bool((before[-1] + odd[-1]) % 2)
        self._note_records(self._lines + 1 + np.flatnonzero(begins))
        self._lines += len(ends)

    @staticmethod
    def _blank_lines(data: bytes, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Which lines hold only spaces, tabs and a carriage return."""
        blank = starts == ends
        for line in np.flatnonzero(_MAY_START_BLANK[np.frombuffer(data, np.uint8)[starts]]):
            blank[line] = not data[starts[line] : ends[line]].strip(b" \t\r")
        return blank

    def _note_records(self, lines: np.ndarray) -> None:
        """Records begin on these lines: keep an anchor wherever the line number stops
        following from the record number."""
        if not lines.size:
            return
        records = self._records + 1 + np.arange(lines.size)
        shift = lines - records
        previous = (
            shift[0] - 1 if not self._anchors else self._anchors[-1][1] - self._anchors[-1][0]
        )
        for index in np.flatnonzero(np.diff(shift, prepend=previous)):
            self._anchors.append((int(records[index]), int(lines[index])))
        self._records += lines.size
