"""Every ``bigmart.<module>...<NAME>`` the README or docs/ name exists where they say.

A name in backticks or a code block is a promise to a reader who will import it; a module
that moves leaves the docs pointing at nothing unless this test notices.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path
from types import ModuleType

import pytest

from support.paths import REPO

DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^(```|~~~)([^\n]*)\n(.*?)^\1[ \t]*$", re.M | re.S)
INLINE = re.compile(r"(`+)(.+?)\1", re.S)
# Not part of a path or a longer word: src/bigmart/..., bigmart-quickstart, x.bigmart.y
DOTTED = re.compile(r"(?<![\w./-])bigmart(?:\.[A-Za-z_]\w*)+")


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def python_imports(code: str) -> list[tuple[int, str]]:
    """``from bigmart.x import a, b`` as (line in ``code``, ``bigmart.x.a``), ..."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    return [
        (node.lineno, f"{node.module}.{alias.name}")
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "bigmart"
        for alias in node.names
        if alias.name != "*"
    ]


def documented_names(path: Path) -> list[tuple[str, str]]:
    """(``file:line``, dotted name) for each bigmart name in the file's code."""
    text = path.read_text()
    found: list[tuple[int, str]] = []  # (line, name)
    for block in FENCE.finditer(text):
        code, first = block.group(3), line_of(text, block.start(3))
        found += [
            (line_of(text, block.start(3) + m.start()), m.group()) for m in DOTTED.finditer(code)
        ]
        if block.group(2).strip() == "python":
            found += [(first + line - 1, name) for line, name in python_imports(code)]
    prose = FENCE.sub(lambda block: " " * len(block.group()), text)  # keep offsets
    for span in INLINE.finditer(prose):
        found += [
            (line_of(text, span.start(2) + m.start()), m.group())
            for m in DOTTED.finditer(span.group(2))
        ]
    where = path.relative_to(REPO) if path.is_relative_to(REPO) else path.name
    return [(f"{where}:{line}", name) for line, name in sorted(set(found))]


NAMES = [entry for path in DOCUMENTS for entry in documented_names(path)]


def longest_module(parts: list[str]) -> tuple[ModuleType, list[str]]:
    """The longest importable ``bigmart...`` prefix, and the names left after it."""
    for cut in range(len(parts), 0, -1):
        name = ".".join(parts[:cut])
        try:
            return importlib.import_module(name), parts[cut:]
        except ModuleNotFoundError as error:
            # a missing module of the path itself, not one it imports, means: shorter
            if error.name is None or not name.startswith(error.name):
                raise
    raise AssertionError(f"no module {parts[0]}")


def test_the_finder_sees_names_in_backticks_and_code_and_nothing_else(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Prose bigmart.not.code, `bigmart.a.B` and ``bigmart.c.D(x)``; `src/bigmart/e.py`,\n"
        "`bigmart-quickstart/`.\n"
        "```python\n"
        "import os\n"
        "from bigmart.f import (\n"
        "    G,\n"
        "    H,\n"
        ")\n"
        "```\n"
        "```\n"
        "$ python -c 'import bigmart.i.J'\n"
        "```\n"
    )
    assert documented_names(page) == [
        ("page.md:1", "bigmart.a.B"),
        ("page.md:1", "bigmart.c.D"),
        ("page.md:5", "bigmart.f"),
        ("page.md:5", "bigmart.f.G"),
        ("page.md:5", "bigmart.f.H"),
        ("page.md:11", "bigmart.i.J"),
    ]


@pytest.mark.parametrize(("where", "name"), NAMES, ids=[f"{w} {n}" for w, n in NAMES])
def test_each_documented_name_imports(where: str, name: str) -> None:
    module, rest = longest_module(name.split("."))
    found: object = module
    for part in rest:
        owner = getattr(found, "__name__", repr(found))
        assert hasattr(found, part), f"{where}: {name}: {owner} has no {part}"
        found = getattr(found, part)
