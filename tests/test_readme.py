"""The README cannot drift from the product (issue 15).

* Its ```` ```console ```` blocks are transcripts, and they run: each ``$ command`` (a trailing
  backslash continues it) runs with bash in one temporary folder, in README order, against
  moto's S3 server (a bucket named ``bucket``), and must print what the block shows after it
  (doctest's rules: ``...`` stands for any text, runs of blanks compare equal) and exit 0,
  or the code an ``[exit N]`` line names.
* Every ``bigmart`` command written in its other shell blocks (the synopses and the AWS
  examples, which cannot run here) names a real subcommand and only options it takes.
"""

from __future__ import annotations

import argparse
import contextlib
import doctest
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bigmart.cli.main import build_parser
from support.aws_server import OTHER_CREDENTIAL_SOURCES, REGION, MotoServer
from support.cli import serve_processes_of
from support.remote import moto_client
from test_layers import LAYERS

README = Path(__file__).resolve().parents[1] / "README.md"
EXIT_LINE = re.compile(r"^\[exit (\d+)\]$")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", flags=re.S | re.M)


@dataclass(frozen=True)
class Step:
    """One ``$ command`` of a transcript and the output the README shows for it."""

    line: int
    command: str
    expected: str
    exit_code: int

    def __str__(self) -> str:
        return f"README.md:{self.line}: $ {self.command}"


def _blocks(language: str) -> list[tuple[int, str]]:
    """(first line number, body) of every fenced block in that language."""
    text = README.read_text()
    return [
        (text.count("\n", 0, match.start(2)) + 1, match.group(2))
        for match in FENCE.finditer(text)
        if match.group(1) == language
    ]


def parse_transcript(first_line: int, body: str) -> list[Step]:
    """The steps of one console block; text before its first ``$`` is an error."""
    steps: list[Step] = []
    lines = body.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if not line.startswith("$ "):
            raise AssertionError(f"README.md:{first_line + index}: output before any command")
        start, command = first_line + index, line[2:]
        while command.endswith("\\"):
            index += 1
            command += "\n" + lines[index]
        index += 1
        output: list[str] = []
        while index < len(lines) and not lines[index].startswith("$ "):
            output.append(lines[index])
            index += 1
        exit_code = 0
        if output and (code := EXIT_LINE.match(output[-1])):
            exit_code = int(code.group(1))
            output.pop()
        steps.append(Step(start, command, "\n".join(output) + "\n" if output else "", exit_code))
    return steps


def transcript_steps() -> list[Step]:
    return [step for line, body in _blocks("console") for step in parse_transcript(line, body)]


@pytest.fixture(scope="module")
def workspace(
    tmp_path_factory: pytest.TempPathFactory, moto: MotoServer
) -> Iterator[dict[str, object]]:
    """A fresh folder, job store and S3 (with ``bucket``) shared by every step, in order;
    a server a failed step left running is stopped at the end."""
    moto.reset()
    root = tmp_path_factory.mktemp("readme")
    environment = {k: v for k, v in os.environ.items() if k not in OTHER_CREDENTIAL_SOURCES}
    environment.update(moto.environment())
    environment.update(
        BIGMART_HOME=str(root / "home"),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{environment['PATH']}",
        TERM="dumb",
        COLUMNS="100",
    )
    moto_client(environment, "s3").create_bucket(
        Bucket="bucket", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    (root / "work").mkdir()
    yield {"cwd": root / "work", "env": environment, "failed": []}
    for pid in serve_processes_of(root / "home"):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


STEPS = transcript_steps()


@pytest.mark.parametrize("step", STEPS, ids=[str(step.line) for step in STEPS])
def test_each_readme_command_prints_what_the_readme_shows(step: Step, workspace) -> None:
    failed: list[Step] = workspace["failed"]  # type: ignore[assignment]
    if failed:
        pytest.fail(f"not run: an earlier step failed ({failed[0]})")
    try:
        ran = subprocess.run(
            ["bash", "-o", "pipefail", "-c", step.command],
            cwd=workspace["cwd"],
            env=workspace["env"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=600,
        )
    except BaseException:
        failed.append(step)
        raise
    checker = doctest.OutputChecker()
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    shown = ran.stdout if step.expected.strip() or ran.stdout.strip() else ""
    if ran.returncode != step.exit_code or not checker.check_output(step.expected, shown, flags):
        failed.append(step)
        pytest.fail(
            f"{step}\nexit {ran.returncode} (README: {step.exit_code})\n"
            f"--- README shows:\n{step.expected}--- it printed:\n{ran.stdout}"
        )


def test_the_readme_has_transcripts_and_the_parser_reads_them() -> None:
    assert len(STEPS) >= 15, [str(step) for step in STEPS]
    steps = parse_transcript(1, "$ a \\\n  b\nout\n...\n[exit 2]\n$ c\n")
    assert [(s.line, s.command, s.expected, s.exit_code) for s in steps] == [
        (1, "a \\\n  b", "out\n...\n", 2),
        (6, "c", "", 0),
    ]
    with pytest.raises(AssertionError, match="output before any command"):
        parse_transcript(1, "stray\n$ a\n")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def written_commands() -> list[tuple[int, list[str]]]:
    """Every ``bigmart ...`` written in a bash block, split at ``|`` and ``&&``."""
    commands = []
    for first_line, body in _blocks("bash") + _blocks("console"):
        for offset, line in enumerate(body.replace("\\\n", " \n").splitlines()):
            text = line.removeprefix("$ ").split(" #")[0]
            for part in re.split(r"\s(?:\||&&)\s", text):
                words = part.replace("[", " ").replace("]", " ").split()
                if words[:1] == ["bigmart"]:
                    commands.append((first_line + offset, words[1:]))
    return commands


def test_every_bigmart_command_the_readme_writes_exists_with_those_options() -> None:
    commands = written_commands()
    assert len(commands) >= 30
    top = build_parser()
    for line, words in commands:
        parser, path = top, ["bigmart"]
        while (choices := _subcommands(parser)) and words:
            name = words[0].split("|")[0]
            assert name in choices, f"README.md:{line}: {shlex.join(path)} has no {name!r}"
            for alternative in words[0].split("|"):  # `jobs show|describe`
                assert alternative in choices, f"README.md:{line}: no {alternative!r}"
            parser, words, path = choices[name], words[1:], [*path, name]
        for word in words:
            option = word.split("=")[0]
            if option.startswith("--"):
                assert option in _options(parser), (
                    f"README.md:{line}: {shlex.join(path)} has no option {option}"
                )


def _layout() -> str:
    """The README's Layout section, up to the next section if one follows."""
    text = README.read_text()
    return text[text.index("## Layout") :].split("\n## ", 1)[0]


def test_the_layout_names_every_module_and_the_layers_in_their_order() -> None:
    layout = _layout()
    source = Path(__file__).resolve().parents[1] / "src" / "bigmart"
    missing = [
        str(path.relative_to(source))
        for path in source.rglob("*.py")
        if path.stem != "__init__" and not re.search(rf"\b{path.stem}\b", layout)
    ]
    packages = [p.name for p in source.iterdir() if (p / "__init__.py").exists()]
    missing += [f"{name}/" for name in packages if f"{name}/" not in layout]
    assert not missing, f"README's Layout does not name: {missing}"
    written = re.search(r"only go down: (.*?)\)", layout, flags=re.S)
    assert written, "the Layout says the layers' order"
    assert " ".join(written.group(1).split()).split(" < ") == [name for name, _ in LAYERS]


def test_the_readme_metric_definitions_are_the_ones_train_jobs_are_sent_with() -> None:
    from bigmart.model.metrics import METRIC_DEFINITIONS

    (code,) = [body for _, body in _blocks("python") if "metric_definitions" in body]
    namespace: dict[str, object] = {}
    exec(code, namespace)  # the README's own block, as a user copies it
    assert namespace["metric_definitions"] == list(METRIC_DEFINITIONS)


def test_the_first_command_installs_what_ci_tests() -> None:
    """The install the README documents pins constraints.txt, and CI installs against it."""
    _, first = _blocks("bash")[0]
    assert "pip install -c constraints.txt . && .venv/bin/bigmart quickstart" in first
    assert "scripts/test" in first
    ci = (README.parent / "scripts" / "test").read_text()
    assert "constraints.txt" in ci and "-c \"$pins\" -e '.[test,bench]'" in ci
