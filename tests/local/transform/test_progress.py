"""Progress without a terminal: log lines through the echo, at most one per interval."""

import re

from bigmart.local.transform.progress import Progress


def test_log_lines_count_records_and_the_share_of_input():
    lines: list[str] = []
    progress = Progress(total_bytes=400, echo=lines.append, bar=False, every=0.0)
    progress.advance(records=3, size=100)
    progress.advance(records=3, size=100)
    progress.close()
    assert len(lines) == 2
    assert re.fullmatch(r"transformed 6 records \(50% of input\), [\d,]+ records/s", lines[1])


def test_no_share_is_given_for_empty_input_and_no_line_inside_the_interval():
    lines: list[str] = []
    quiet = Progress(total_bytes=0, echo=lines.append, bar=False, every=3600.0)
    quiet.advance(records=1, size=0)
    assert lines == []
    Progress(total_bytes=0, echo=lines.append, bar=False, every=0.0).advance(1, 0)
    assert re.fullmatch(r"transformed 1 records, [\d,]+ records/s", lines[0])
