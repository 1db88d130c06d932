from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# Test modules import the helpers shared by every folder as ``support`` (tests/support.py).
# The folder helpers that child processes load put this folder on sys.path themselves.
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def camvid_root() -> Path:
    """The real CamVid subset beside the checkout (see ../shared/data/camvid/README.md)."""
    root = Path(os.environ.get("SEGEVO_CAMVID", REPO_ROOT.parent / "shared" / "data" / "camvid"))
    if not (root / "train").is_dir() or not (root / "trainannot").is_dir():
        pytest.skip(f"real CamVid data not found at {root} (set SEGEVO_CAMVID to its folder)")
    return root
