"""A CSV file's bytes on their way to pandas, counted: the file's own line of each record.

pandas numbers rows, not lines: it skips blank and whitespace-only lines, and a quoted
field may span lines. Errors must name the line a person finds in an editor, so the bytes
pass through ``PhysicalLines``, which counts lines as they go and checks the text is UTF-8.
"""

from __future__ import annotations

import codecs
import io
import os
import stat
from bisect import bisect_right
from typing import IO, Any, NamedTuple

import numpy as np

from bigmart.schema import SchemaError

BLOCK_BYTES = 1 << 20
#: The longest record training reads, line end included: a line, or the lines of a quoted
#: field that spans several. A Big Mart row is about 120 bytes; 1 MiB is far beyond any
#: real row, yet bounds what one line costs (a file with no newline at all would otherwise
#: be held whole, several times over, by this stream and by pandas).
MAX_RECORD_BYTES = 1 << 20
#: The longest header row: a Big Mart header is about 200 bytes.
MAX_HEADER_BYTES = 64 << 10

#: The first bytes of every gzip stream (never the start of UTF-8 text).
GZIP_MAGIC = b"\x1f\x8b"
_NEWLINE, _QUOTE = ord("\n"), ord('"')
#: First bytes of a line that may be blank: pandas skips lines of only spaces and tabs.
_MAY_START_BLANK = np.isin(np.arange(256), list(b" \t\r"))


def _is_pipe(raw: IO[bytes]) -> bool:
    """Whether ``raw`` reads a FIFO (SageMaker's Pipe mode) rather than a file."""
    try:
        return stat.S_ISFIFO(os.fstat(raw.fileno()).st_mode)
    except (OSError, ValueError, io.UnsupportedOperation):  # no descriptor: an in-memory body
        return False


class _Lines(NamedTuple):
    """The whole lines of a piece of the file, as ``PhysicalLines`` sees them."""

    starts: np.ndarray  # offset of each line's first byte
    ends: np.ndarray  # offset of each line's newline
    quoted: np.ndarray  # the line goes on a quoted field opened on an earlier line
    blank: np.ndarray  # only spaces, tabs and a carriage return (pandas skips it)
    in_quotes_after: bool  # a quoted field is still open after the last line


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
        self._record_start = 0  # offset in the file where the last record began
        self._record_line = 1  # and its line

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
        """The next whole lines of the file (at its end, the last line too), counted.

        The incomplete last line is kept for the next call, so a record over its limit is
        refused here, before more of it is read: the memory a line costs stays bounded.
        """
        block = self._raw.read(BLOCK_BYTES)
        data = self._tail + block
        bad = self._first_bad_byte(block, final=not block)
        if bad is not None:
            end, open_bytes = data.rfind(b"\n", 0, bad) + 1, 0
        elif not block:
            end, open_bytes = len(data), 0
        else:
            end = data.rfind(b"\n") + 1
            open_bytes = len(data) - end
        counted = data[:end] + (b"\n" if bad is None and not block and data else b"")
        lines = self._scan(counted)
        too_long = self._first_too_long(lines, open_bytes)
        if too_long is not None:
            cut, self.error = too_long
            end = cut
            self._count(self._scan(data[:cut]))
            self.ended_in_quotes = self._in_quotes
            self._eof = True
        elif bad is not None:
            self._count(lines)
            self.error = self._encoding_error(data, bad, end)
            self.ended_in_quotes = self._in_quotes
            self._eof = True
        else:
            self._count(lines)
            self._eof = not block
        whole = data[:end]
        self._tail = data[end:]
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
        fix = "save the file as UTF-8"
        if not self._gzipped and self._passed == 0 and data.startswith(GZIP_MAGIC):
            remedy = "name it .gz"
            if _is_pipe(self._raw):  # a Pipe-mode channel has no name to change
                remedy = "set the channel's CompressionType to Gzip"
            fix = f"it looks gzip-compressed (it starts with bytes 1f 8b): {remedy}"
        return SchemaError(
            f"not UTF-8 text: byte 0x{data[bad]:02x} at offset {bad - line_start} of the line "
            f"(offset {self._passed + bad} of {where}); {fix}",
            source=self.source,
            row=self._lines + 1,
        )

    def _scan(self, data: bytes) -> _Lines:
        """Where the whole lines of ``data`` start and end, which are blank, and which
        go on a quoted field opened on an earlier line."""
        text = np.frombuffer(data, np.uint8)
        ends = np.flatnonzero(text == _NEWLINE)
        starts = np.concatenate(([0], ends[:-1] + 1)) if ends.size else ends
        quoted = np.zeros(ends.size, dtype=bool)
        in_quotes_after = self._in_quotes
        if ends.size and (self._in_quotes or _QUOTE in data):
            odd = np.diff(np.searchsorted(np.flatnonzero(text == _QUOTE), ends), prepend=0) % 2
            before = np.cumsum(odd) - odd + self._in_quotes  # quotes opened before each line
            quoted = before % 2 == 1
            in_quotes_after = bool((before[-1] + odd[-1]) % 2)
        blank = self._blank_lines(data, starts, ends) if ends.size else quoted
        return _Lines(starts, ends, quoted, blank & ~quoted, in_quotes_after)

    def _first_too_long(self, lines: _Lines, open_bytes: int) -> tuple[int, SchemaError] | None:
        """The first record over its limit, if any: where to cut the data before it and
        the error. ``open_bytes`` more bytes of an unfinished line follow ``lines``."""
        count = lines.ends.size
        fresh = ~lines.quoted  # lines that start a record (or are blank)
        # Each line's record starts on the last fresh line at or before it, or, for the
        # lines that go on a record opened in an earlier block, at ``_record_start``.
        latest_fresh = np.maximum.accumulate(np.where(fresh, np.arange(count), -1))
        carried = self._record_start - self._passed  # <= 0: before this data
        record_start = np.where(
            latest_fresh >= 0, lines.starts[np.maximum(latest_fresh, 0)], carried
        )
        number = self._records + np.cumsum(fresh & ~lines.blank)  # record 1 is the header
        header = (number == 1) & ~lines.blank
        limit = np.where(header, MAX_HEADER_BYTES, MAX_RECORD_BYTES)
        over = np.flatnonzero(lines.ends + 1 - record_start > limit)
        if over.size:
            line = int(over[0])
            first = int(latest_fresh[line])
            first_line = self._lines + 1 + first if first >= 0 else self._record_line
            return max(int(record_start[line]), 0), self._too_long(
                first_line, int(limit[line]), header=bool(header[line])
            )
        if not open_bytes:
            return None
        # The unfinished line: part of the last quoted record, or a record of its own.
        end = int(lines.ends[-1]) + 1 if count else 0
        if lines.in_quotes_after:
            start = int(record_start[-1]) if count else carried
            number_open = int(number[-1]) if count else self._records
            first = int(latest_fresh[-1]) if count else -1
            first_line = self._lines + 1 + first if first >= 0 else self._record_line
        else:
            start, number_open = end, int(number[-1]) + 1 if count else self._records + 1
            first_line = self._lines + count + 1
        limit_open = MAX_HEADER_BYTES if number_open == 1 else MAX_RECORD_BYTES
        if end + open_bytes - start <= limit_open:
            return None
        return max(start, 0), self._too_long(first_line, limit_open, header=number_open == 1)

    def _too_long(self, line: int, limit: int, *, header: bool) -> SchemaError:
        if header:
            reason = (
                f"the header row is longer than {limit:,} bytes (a Big Mart header is about "
                "200): is this a CSV file with one row per line?"
            )
        else:
            reason = (
                f"the row is longer than {limit:,} bytes, the most a row may hold (a Big Mart "
                "row is about 120): a quote that never closes, or not a CSV file?"
            )
        return SchemaError(reason, source=self.source, row=line)

    def _count(self, lines: _Lines) -> None:
        """Count whole lines, noting which begin a record: not a blank line (pandas skips
        those) and not a line that goes on a quoted field."""
        if not lines.ends.size:
            return
        begins = ~lines.quoted & ~lines.blank
        starting = np.flatnonzero(~lines.quoted)  # where the record that is open at the end began
        last_fresh = int(starting[-1]) if starting.size else -1
        if last_fresh >= 0:
            self._record_start = self._passed + int(lines.starts[last_fresh])
            self._record_line = self._lines + 1 + last_fresh
        self._in_quotes = lines.in_quotes_after
        self._note_records(self._lines + 1 + np.flatnonzero(begins))
        self._lines += len(lines.ends)

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
