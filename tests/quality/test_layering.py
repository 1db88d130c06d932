"""The layering docs/architecture.md states, read from the code: ``cli -> engine ->
{surrogates, devices} -> nets -> _core``, with no import pointing back up (counting imports
inside functions, which is where the optional and heavy ones live)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ALLOWED: dict[str, set[str]] = {
    "nets": {"nets", "_core", "_reference"},
    "surrogates": {"surrogates", "nets", "_core", "_reference"},
    "devices": {"devices", "nets", "_core", "_reference"},
    "engine": {"engine", "surrogates", "devices", "nets", "_core", "_reference"},
    "cli": {"cli", "engine", "surrogates", "devices", "nets", "_core", "_reference"},
}


def _segevo_imports(path: Path) -> set[str]:
    """The top-level segevo packages ``path`` imports, anywhere in the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "segevo":
                names = [f"segevo.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "segevo" and len(parts) > 1 and not parts[1].startswith("__"):
                found.add(parts[1])
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_down_the_layers(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no Python files under {package}/"
    wrong = {
        str(path.relative_to(ROOT)): sorted(_segevo_imports(path) - ALLOWED[package])
        for path in files
    }
    wrong = {path: names for path, names in wrong.items() if names}
    assert not wrong, f"{package}/ imports layers above it: {wrong}"
