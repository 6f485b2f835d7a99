"""The README's boto3 example for ``bigmart api`` runs as written: its shell lines set the
environment, its Python block is run unchanged against a real ``bigmart api``."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from support.cli import BIGMART

from .conftest import running_api

README = Path(__file__).resolve().parents[2] / "README.md"


def _section() -> str:
    text = README.read_text()
    start = text.index("## A local SageMaker API")
    return text[start : text.index("\n## ", start + 1)]


def _blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)


def test_the_readme_boto3_example_runs_as_is(tmp_path):
    section = _section()
    (shell,) = _blocks(section, "bash")
    (python,) = _blocks(section, "python")
    assert len(python.strip().splitlines()) <= 16  # short enough to read at a glance
    with running_api(tmp_path / "home") as server:
        environment = {**os.environ}
        for line in shell.splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["export"]:
                for assignment in words[1:]:
                    key, _, value = assignment.partition("=")
                    environment[key] = value.replace("http://127.0.0.1:8771", server.url)
            elif words[:2] == ["bigmart", "synth"]:
                for command in " ".join(words).split(" && "):
                    arguments = command.split()[1:]
                    subprocess.run([BIGMART, *arguments], cwd=tmp_path, check=True, timeout=120)
        assert environment["AWS_ENDPOINT_URL_SAGEMAKER"] == server.url
        ran = subprocess.run(
            [sys.executable, "-c", python],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert ran.returncode == 0, ran.stderr
        answer = ran.stdout.strip().removeprefix("b'").removesuffix("'").split("\\n")
        predictions = [float(line) for line in answer if line]
        assert len(predictions) == 3 and all(p > 0 for p in predictions)
        assert server.store.get("demo", "training").status == "Completed"
