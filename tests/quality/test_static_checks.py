"""The house rules CI enforces through the test command: ruff (lint and format) over the
whole tree, mypy on ``segevo.engine`` and ``segevo.cli`` (settings in pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_FOLDERS = ("engine", "nets", "surrogates", "devices", "cli")


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_ruff_lint_is_clean():
    result = _run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean():
    result = _run("ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean_on_engine_and_cli(tmp_path):
    # mypy cannot follow an editable install's import hook, and the folders are mapped into
    # the package only at install time: a tree of links lays them out as `segevo.*`.
    package = tmp_path / "segevo"
    package.mkdir()
    for folder in PACKAGE_FOLDERS:
        (package / folder).symlink_to(ROOT / folder, target_is_directory=True)
    shutil.copy(ROOT / "csrc" / "_core.pyi", package / "_core.pyi")
    (package / "__init__.py").write_text('"""segevo (laid out for mypy)."""\n')
    result = _run(
        "mypy",
        "--config-file",
        str(ROOT / "pyproject.toml"),
        "--cache-dir",
        str(tmp_path / "cache"),
        "-p",
        "segevo.engine",
        "-p",
        "segevo.cli",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
