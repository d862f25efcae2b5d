"""The checkout itself: nothing half-merged is committed."""

from __future__ import annotations

import os
from pathlib import Path

from workflow_utils import REPO

SKIP = {".git", ".venv", "results", ".snakemake", "__pycache__", ".pytest_cache", "node_modules"}
MARKERS = ("<<<<<<< ", ">>>>>>> ")


def test_no_merge_conflict_markers() -> None:
    """A README once landed with a conflict's two sides; every text file in the repository is checked."""
    found = []
    for folder, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in SKIP]  # pruned, not walked
        for name in files:
            path = Path(folder) / name
            if path.stat().st_size > 2_000_000:
                continue
            try:
                lines = path.read_text().splitlines()
            except UnicodeDecodeError:
                continue
            found += [f"{path.relative_to(REPO)}:{i}" for i, line in enumerate(lines, 1) if line.startswith(MARKERS)]
    assert not found, found
