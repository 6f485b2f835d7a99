"""The ``bigmart`` entry point: errors no subcommand handles are one line, never a traceback."""

from __future__ import annotations

import subprocess

from support.cli import BIGMART, bigmart


def test_a_reader_that_goes_away_ends_the_command_quietly():
    process = subprocess.Popen([BIGMART, "jobs"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # before the command has written anything
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 141
    assert b"Traceback" not in stderr


def test_an_unhandled_file_error_is_one_line_naming_the_file(tmp_path):
    result = bigmart("synth", "--rows", "10", "--output", "/proc/no-such-folder/rows.csv")
    assert result.returncode == 1
    assert result.stderr == "bigmart: error: '/proc/no-such-folder': No such file or directory\n"
