"""The package's layers (docs/design.md): every import of a ``bigmart`` module, those inside
functions included, goes down the table below or stays in its layer, and no modules import
each other in a cycle.

Read from the source with ``ast``, so a lazy import inside a function counts as much as one
at the top of a module: it runs sooner or later, and the layering is about what a module
may know, not about when it learns it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bigmart

PACKAGE = Path(bigmart.__file__).resolve().parent

#: Lowest first; a module may import its own layer and the layers before it. A layer is a
#: module or a package (all modules below it); names may not exist yet (contract, errors).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "foundation",
        (
            "bigmart",
            "bigmart.schema",
            "bigmart.clipping",
            "bigmart.files",
            "bigmart.contract",
            "bigmart.errors",
            "bigmart.lifeline",
        ),
    ),
    ("data", ("bigmart.data",)),
    ("report", ("bigmart.report",)),
    ("model", ("bigmart.model",)),
    ("codecs", ("bigmart.codecs",)),
    ("container", ("bigmart.container",)),
    ("local", ("bigmart.local",)),
    ("aws", ("bigmart.aws",)),
    ("api", ("bigmart.api",)),
    ("cli", ("bigmart.cli",)),
]

#: Imports the order above allows that the design still rules out: codecs turn bodies into
#: columns and back and know nothing of models (the server decodes before it predicts).
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "codecs": ("model",),
}

#: (importer, imported) imports that break a rule today (a layer, or a cycle), each to be
#: removed with its fix; the tests below ignore these imports and fail once one is gone.
KNOWN_EXCEPTIONS: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    where: str  # path:line, for the message

    def __str__(self) -> str:
        return f"{self.where}: {self.importer} imports {self.imported}"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    relative = Path(*name.split("."))
    root = PACKAGE.parent
    return (root / relative).with_suffix(".py").is_file() or (
        root / relative / "__init__.py"
    ).is_file()


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path) -> Iterator[Import]:
    """Every ``bigmart`` module ``path`` imports, anywhere in it. ``from P import x`` is
    an import of the module ``P.x`` when there is one, else of ``P`` itself."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        where = f"{path.relative_to(PACKAGE.parent)}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            targets = [
                f"{source}.{alias.name}" if is_module(f"{source}.{alias.name}") else source
                for alias in node.names
            ]
        else:
            continue
        for target in dict.fromkeys(targets):
            if target == "bigmart" or target.startswith("bigmart."):
                yield Import(name, target, where)


def all_imports() -> list[Import]:
    return [found for name, path in modules().items() for found in imports_of(name, path)]


def layer_of(module: str) -> int:
    """The index in LAYERS of the longest prefix naming ``module``'s layer."""
    best, best_length = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_length:
                best, best_length = index, len(prefix)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best


def broken_rule(found: Import) -> str | None:
    below, above = layer_of(found.importer), layer_of(found.imported)
    importer_layer, imported_layer = LAYERS[below][0], LAYERS[above][0]
    if above > below:
        return f"{importer_layer} must not import {imported_layer} (a layer above it)"
    if imported_layer in FORBIDDEN.get(importer_layer, ()):
        return f"{importer_layer} must not import {imported_layer}"
    return None


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module, or a module importing
    itself (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in edges.get(node, ()):
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_walk_sees_imports_inside_functions_and_relative_ones() -> None:
    found = {(i.importer, i.imported) for i in all_imports()}
    assert ("bigmart.cli.main", "bigmart.cli.quickstart") in found
    assert len(modules()) > 40 and all(layer_of(name) >= 0 for name in modules())


def test_no_module_imports_a_layer_above_its_own() -> None:
    broken = [
        f"{found}: {rule}"
        for found in all_imports()
        if (rule := broken_rule(found)) and (found.importer, found.imported) not in KNOWN_EXCEPTIONS
    ]
    assert not broken, "imports against the layers:\n" + "\n".join(broken)


def test_known_exceptions_still_exist() -> None:
    """An exception whose import is gone is removed from KNOWN_EXCEPTIONS, so it cannot
    hide a new one."""
    found = {(i.importer, i.imported) for i in all_imports()}
    assert not KNOWN_EXCEPTIONS - found, f"remove from KNOWN_EXCEPTIONS: {KNOWN_EXCEPTIONS - found}"


def test_no_import_cycles() -> None:
    edges: dict[str, set[str]] = {}
    for found in all_imports():
        known = (found.importer, found.imported) in KNOWN_EXCEPTIONS
        if found.importer != found.imported and not known:
            edges.setdefault(found.importer, set()).add(found.imported)
    assert not cycles(edges), "modules importing each other: " + "; ".join(
        " -> ".join(component) for component in cycles(edges)
    )
