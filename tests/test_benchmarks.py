"""The GPU check is ready to run: its script works end to end at tiny sizes on the CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from workflow_utils import REPO


@pytest.mark.slow  # ~20 s: a full training fold and an ESM-2 embedding through the real code
def test_gpu_check_runs_at_tiny_size_on_the_cpu(partial_fasta: Path) -> None:
    """Its protein lengths come from the real DeepLocPro proteins: skipped where they are absent."""
    env = {**os.environ, "LOCFUSION_SHARED": str(partial_fasta.parents[2])}
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks/gpu_check.py"), "--tiny", "--device", "cpu",
                           "--threads", "1", "--epochs", "1"], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("device cpu") and "TINY" in lines[0]
    assert any(line.startswith("training: ") and "fusion" in line for line in lines)
    assert any(line.strip().startswith("epoch 1: ") and "residues per epoch-second" in line for line in lines)
    assert any(line.startswith("embedding: random ESM-2 2 layers") and "residues/s" in line for line in lines)


def test_study_scale_samples_batches_across_an_epochs_lengths() -> None:
    """The throughput sample stands for an epoch: one whole bucketed batch from each length stratum,
    shortest to longest (a few random batches would move the rate with their lengths)."""
    sys.path[:0] = [str(REPO / "benchmarks"), str(REPO / "workflow")]
    try:
        import study_scale
    finally:
        del sys.path[:2]
    import numpy as np

    lengths = np.random.default_rng(3).integers(40, 1001, size=640)  # an epoch of 20 batches of 32
    batches = study_scale.stratified_batches(lengths, 4)
    assert [len(b) for b in batches] == [32] * 4
    assert len(set(np.concatenate(batches).tolist())) == 128  # distinct proteins
    longest = [int(lengths[b].max()) for b in batches]
    assert longest == sorted(longest) and len(set(longest)) == 4
    # bucketed: each batch is a narrow slice of lengths, and the strata span the epoch's range
    assert all(int(lengths[b].max() - lengths[b].min()) < 150 for b in batches)
    assert longest[0] < np.quantile(lengths, 0.3) and longest[-1] > np.quantile(lengths, 0.7)
