"""Shared fixtures: paths to the repository and to the real DeepLocPro data beside it, and the
one small workflow run (`small_dag`) that every test of a DAG's outputs reads."""

from __future__ import annotations

import os
import time
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


@pytest.fixture(scope="session")
def small_dag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole workflow on the shared small config (tests/workflow_utils.py), run once per session.

    Tests read it; the few that change it (a forced fold, then an edited plotting module)
    are marked `mutates_small_dag(order=N)` and run after all others, in that order.
    """
    from workflow_utils import copy_workflow, prepare_small_dag, snakemake

    work = copy_workflow(tmp_path_factory.mktemp("small_dag"))
    prepare_small_dag(work)
    started = time.perf_counter()
    snakemake(work, "--configfile", "c.yaml", "--cores", "2")
    (work / "seconds.txt").write_text(f"{time.perf_counter() - started:.1f}")
    return work


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that change the shared DAG go last (by their marker's `order`), so every other test sees
    it as the run left it."""

    def rank(item: pytest.Item) -> int:
        marker = item.get_closest_marker("mutates_small_dag")
        if marker is None:
            return 0
        assert "order" in marker.kwargs, f"{item.nodeid}: mutates_small_dag needs order=N (1, 2, ...)"
        return marker.kwargs["order"]

    items.sort(key=rank)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start installing the Debian packages the collected tests need, in the background (tests/debian.py)."""
    import debian

    modules = {Path(str(item.fspath)).stem for item in session.items}
    debian.start({group for module, group in debian.NEEDED_BY.items() if module in modules})
