"""Shared fixtures: paths to the repository and to the real DeepLocPro data beside it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("LOCFUSION_SHARED", REPO.parent / "shared"))
DEEPLOCPRO = SHARED / "data" / "deeplocpro"
PARTIAL_FASTA = DEEPLOCPRO / "graphpart_partial.fasta"
HELDOUT_DIR = DEEPLOCPRO / "heldout_predictions"


@pytest.fixture(scope="session")
def partial_fasta() -> Path:
    if not PARTIAL_FASTA.is_file():
        pytest.skip(f"real DeepLocPro data not found at {PARTIAL_FASTA} (set LOCFUSION_SHARED)")
    return PARTIAL_FASTA


@pytest.fixture(scope="session")
def heldout_dir() -> Path:
    if not HELDOUT_DIR.is_dir():
        pytest.skip(f"DeepLocPro held-out predictions not found at {HELDOUT_DIR}")
    return HELDOUT_DIR


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start installing the Debian packages the collected tests need, in the background (tests/debian.py)."""
    import debian

    modules = {Path(str(item.fspath)).stem for item in session.items}
    debian.start({group for module, group in debian.NEEDED_BY.items() if module in modules})
