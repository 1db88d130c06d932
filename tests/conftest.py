from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


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
