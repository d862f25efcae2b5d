"""Helpers shared by the benchmarks: best-of-N timing, the machine's matmul peak, and the
real protein lengths that synthetic benchmark data are drawn from.

Achieved FLOP/s only mean something against what this machine can do, so every
benchmark measures the peak of a large square matrix product at the same precision
and thread count in the same run, and reports its own rate as a fraction of it.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
# The real DeepLocPro proteins: ../shared beside the checkout, or LOCFUSION_SHARED (as the tests).
PARTIAL = Path(os.environ.get("LOCFUSION_SHARED", REPO.parent / "shared")) / "data/deeplocpro/graphpart_partial.fasta"


@functools.cache
def deeplocpro_lengths() -> np.ndarray:
    """Lengths of the real DeepLocPro proteins within the study's filter (40-1000 residues), in file
    order; benchmarks draw their synthetic proteins from them (speed depends on lengths, not values)."""
    from locfusion.fasta import iter_fasta  # the caller has put workflow/ on sys.path

    lengths = np.array([len(seq) for _, seq in iter_fasta(PARTIAL)])
    return lengths[(lengths >= 40) & (lengths <= 1000)]


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """Fastest of `repeats` runs after one warm-up: the least disturbed by other load."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def matmul_peak(dtype: torch.dtype, n: int = 2048, repeats: int = 3) -> float:
    """GFLOP/s of an n x n matrix product at `dtype` with the current torch thread count."""
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    return 2 * n**3 / best_time(lambda: torch.matmul(a, b), repeats) / 1e9


def sustained_matmul(dtype: torch.dtype, seconds: float, n: int = 1024) -> float:
    """GFLOP/s of back-to-back n x n products for about `seconds`: the peak under the current load.

    Measured right before and after a timed run, it gives the peak that run actually had
    available, so a fraction-of-peak stays meaningful on a shared machine.
    """
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    torch.matmul(a, b)
    count, start = 0, time.perf_counter()
    while True:
        torch.matmul(a, b)
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return 2 * n**3 * count / elapsed / 1e9
