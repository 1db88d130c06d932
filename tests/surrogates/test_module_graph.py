"""The surrogates package has no import circle, counting imports inside functions too."""

from __future__ import annotations

import ast
from pathlib import Path

import segevo.surrogates

PACKAGE = "segevo.surrogates"


def _imports(path: Path) -> set[str]:
    """Sibling modules ``path`` imports anywhere (module level or inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                module = node.module or ""
                found.update([module] if module else [a.name for a in node.names])
            elif (node.module or "").startswith(PACKAGE + "."):
                found.add(node.module.removeprefix(PACKAGE + ".").split(".")[0])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE + "."):
                    found.add(alias.name.removeprefix(PACKAGE + ".").split(".")[0])
    return {name.split(".")[0] for name in found}


def _graph() -> dict[str, set[str]]:
    folder = Path(segevo.surrogates.__file__).parent
    modules = {p.stem: p for p in folder.glob("*.py") if p.stem != "__init__"}
    return {name: _imports(path) & set(modules) for name, path in modules.items()}


def test_no_import_cycles() -> None:
    graph = _graph()
    assert graph["base"], "the graph is read (base imports its helpers)"
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycle = [*path[path.index(name) :], name]
            raise AssertionError("import circle: " + " -> ".join(cycle))
        if name in done:
            return
        for child in sorted(graph[name]):
            visit(child, [*path, name])
        done.add(name)

    for module in sorted(graph):
        visit(module, [])


def test_the_file_format_knows_no_surrogate() -> None:
    assert _graph()["persist"] == set()
