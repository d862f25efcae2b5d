"""Debian packages some tests need (PSORTb, MMseqs2, SLURM), installed in the background.

`make test` must run on a fresh CI machine where these are missing: installing PSORTb alone
takes minutes (about 340 packages), more than the tests that use it. So as soon as pytest has
collected tests that need a package, one background thread runs `apt-get update` and installs
each missing group in turn, while the other tests run; a test that needs a group waits for it
(`require`). Without root or apt-get, `require` skips with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field

import pytest


@dataclass
class Group:
    """Packages installed together, and the commands whose presence means they are there."""

    packages: tuple[str, ...]
    commands: tuple[str, ...]
    recommends: bool = True  # PSORTb needs its recommended Perl modules
    done: threading.Event = field(default_factory=threading.Event)
    error: str = ""
    seconds: float = 0.0

    def present(self) -> bool:
        return all(shutil.which(c) for c in self.commands)


# In install order: the quick ones first, so that their tests wait least.
GROUPS: dict[str, Group] = {
    "mmseqs2": Group(("mmseqs2",), ("mmseqs",)),
    "slurm": Group(("slurmctld", "slurmd", "slurm-client", "munge"),
                   ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo"),
                   recommends=False),
    "psortb": Group(("psortb", "ncbi-blast+-legacy"), ("psort", "blastall", "makeblastdb")),
}
# Which test modules need which group (conftest starts the installs these collected tests need).
NEEDED_BY = {"test_psortb": "psortb", "test_homology": "mmseqs2", "test_extra": "mmseqs2", "test_slurm": "slurm"}

_started = False


def can_install() -> bool:
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def start(names: set[str]) -> None:
    """Install the missing groups among `names` in one background thread (once per session)."""
    global _started
    missing = [name for name in GROUPS if name in names and not GROUPS[name].present()]
    for name in GROUPS:
        if name not in missing:
            GROUPS[name].done.set()
    if _started or not missing or not can_install():
        for name in missing:
            GROUPS[name].done.set()
        return
    _started = True
    threading.Thread(target=_install, args=(missing,), daemon=True).start()


def _install(names: list[str]) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lock = ["-o", "DPkg::Lock::Timeout=600"]
    update = subprocess.run(["apt-get", *lock, "update", "-qq"], env=env, capture_output=True, text=True)
    for name in names:
        group = GROUPS[name]
        started = time.perf_counter()
        if update.returncode:
            group.error = f"apt-get update failed: {update.stderr.strip()[-300:]}"
        else:
            flags = [] if group.recommends else ["--no-install-recommends"]
            proc = subprocess.run(["apt-get", *lock, "install", "-y", "-qq", *flags, *group.packages],
                                  env=env, capture_output=True, text=True)
            if proc.returncode:
                group.error = f"apt-get install {' '.join(group.packages)} failed: {proc.stderr.strip()[-300:]}"
        group.seconds = time.perf_counter() - started
        group.done.set()


def require(name: str, timeout: float = 1200) -> None:
    """Wait for group `name`; skip (no root/apt) or fail (apt failed) with one line saying why."""
    group = GROUPS[name]
    if group.present():
        return
    start({name})  # a test run alone (pytest -k ...): no background install was started for it
    if not can_install():
        pytest.skip(f"{' '.join(group.packages)} not installed and apt-get unusable (needs root on Debian/Ubuntu)")
    if not group.done.wait(timeout):
        pytest.fail(f"apt-get install {' '.join(group.packages)} did not finish in {timeout:.0f} s")
    if group.error:
        pytest.fail(group.error)
    if not group.present():
        pytest.fail(f"apt-get installed {' '.join(group.packages)} but {', '.join(group.commands)} are not all on PATH")
    print(f"apt-get install {' '.join(group.packages)}: {group.seconds:.0f} s (in the background)")
