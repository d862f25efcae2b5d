"""Shared fixtures: paths to the repository and to the real DeepLocPro data beside it, and the
one small workflow run (`small_dag`) that every test of a DAG's outputs reads."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
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
def mmseqs() -> str:
    """MMseqs2 on PATH, installed from Debian when missing: in the background since collection (tests/debian.py)."""
    import debian
    from locfusion.homology import mmseqs_executable

    debian.require("mmseqs2")
    return mmseqs_executable()


@pytest.fixture(scope="session")
def heldout_dir() -> Path:
    if not HELDOUT_DIR.is_dir():
        pytest.skip(f"DeepLocPro held-out predictions not found at {HELDOUT_DIR}")
    return HELDOUT_DIR


class SmallDagRun:
    """The shared small DAG's Snakemake run, started in the background when collection ends.

    Building it is most of the suite's time (~100 jobs, each a Python process) and keeps the two
    cores of a CI machine busy only part of the time; started at once, it overlaps the unit tests,
    which run first (pytest_collection_modifyitems), and the first test that reads it waits.
    """

    def __init__(self) -> None:
        self.work: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    def start(self) -> None:
        from workflow_utils import copy_workflow, prepare_small_dag, snakemake_command

        self.work = copy_workflow(Path(tempfile.mkdtemp(prefix="locfusion_small_dag_")))
        prepare_small_dag(self.work)
        args, env = snakemake_command(self.work, "--configfile", "c.yaml", "--cores", "2")
        with open(self.work / "snakemake.out", "wb") as out:
            self.started = time.perf_counter()
            self.process = subprocess.Popen(args, cwd=self.work, env=env, stdout=out, stderr=subprocess.STDOUT)

    def wait(self) -> Path:
        if self.process is None:
            self.start()
        assert self.process is not None and self.work is not None
        returncode = self.process.wait(timeout=1800)
        seconds = self.work / "seconds.txt"
        if not seconds.exists():
            seconds.write_text(f"{time.perf_counter() - self.started:.1f}")
        if returncode != 0:
            raise AssertionError(f"the shared small DAG failed ({returncode}):\n"
                                 f"{(self.work / 'snakemake.out').read_text()[-8000:]}")
        return self.work

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)
        if self.work is not None and not os.environ.get("LOCFUSION_KEEP_SMALL_DAG"):
            shutil.rmtree(self.work, ignore_errors=True)


SMALL_DAG = SmallDagRun()


@pytest.fixture(scope="session")
def small_dag() -> Path:
    """The whole workflow on the shared small config (tests/workflow_utils.py), run once per session.

    Tests read it; the few that change it (a forced fold, then an edited plotting module)
    are marked `mutates_small_dag(order=N)` and run after all others, in that order. Removed when
    the session ends (set LOCFUSION_KEEP_SMALL_DAG=1 to keep it for a look).
    """
    return SMALL_DAG.wait()


def pytest_configure(config: pytest.Config) -> None:
    """One torch thread in the test process. The shared DAG's jobs (and the Debian installs) run
    beside the tests on the same cores, and two OpenMP threads waiting on each other for a busy core
    slowed a small model's forward passes ~75x (test_explain_returns_the_forward_logits_bit_for_bit:
    0.6 s alone, 46 s beside a busy machine). Workflow jobs set their own threads."""
    import torch

    torch.set_num_threads(1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that do not read the shared DAG first (they run while it builds), then those that read
    it, then those that change it (by their marker's `order`), so every other test sees it as the
    run left it."""

    def rank(item: pytest.Item) -> int:
        marker = item.get_closest_marker("mutates_small_dag")
        if marker is None:
            return 1 if "small_dag" in getattr(item, "fixturenames", ()) else 0
        assert "order" in marker.kwargs, f"{item.nodeid}: mutates_small_dag needs order=N (1, 2, ...)"
        return 1 + marker.kwargs["order"]

    items.sort(key=rank)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start, in the background, installing the Debian packages the collected tests need (tests/debian.py)
    and the shared small DAG when a collected test reads it."""
    import debian

    modules = {Path(str(item.fspath)).stem for item in session.items}
    debian.start({group for module, group in debian.NEEDED_BY.items() if module in modules})
    if any("small_dag" in getattr(item, "fixturenames", ()) for item in session.items):
        SMALL_DAG.start()


def pytest_sessionfinish(session: pytest.Session) -> None:
    SMALL_DAG.stop()
