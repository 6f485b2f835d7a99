"""Every benchmark script answers ``--help`` after the README's install (the ``bench`` extra),
run as the README says: ``python -m benchmarks.<name>`` from the repository root."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(
    path.stem
    for path in (ROOT / "benchmarks").glob("*.py")
    if path.stem != "__init__" and "__main__" in path.read_text()
)


def test_the_scripts_are_found() -> None:
    assert {"accuracy", "serving", "soak", "transform", "predict_profile"} <= set(SCRIPTS)


@pytest.mark.parametrize("name", SCRIPTS)
def test_each_benchmark_answers_help(name: str) -> None:
    ran = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("usage: "), ran.stdout[:200]


def test_the_readme_installs_the_extra_the_benchmarks_need() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Benchmarks") :]
    install = re.search(r"pip install -c constraints\.txt -e '\.\[(\w+)\]'", section)
    assert install, "the Benchmarks section says how to install what they need"
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert any(requirement.startswith("flask") for requirement in extras[install.group(1)])
