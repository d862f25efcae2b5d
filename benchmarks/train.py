"""Training throughput: length-bucketed vs random batches, fp32 vs bf16, against the matmul peak.

Prints, from one run on this machine:
  - the measured matrix-multiply peak (GFLOP/s) at fp32 and bf16 with the same threads;
  - for the study's fusion model (inputs UniRep-1900 + BLOSUM62-20 as in the offline study, or
    ESM-2 1280 + ProstT5 1024 with --study-dims) and attention pooling: training residues/s
    (real residues, padding excluded), achieved GFLOP/s (FLOPs counted by
    torch.utils.flop_counter during the timed pass; its overhead is per operator, negligible here) and its fraction of the peak;
  - the ratio bucketed / random batching, measured in the same run;
  - an estimate of one training epoch on the offline study (about 630 training and
    210 validation proteins per fold).

Protein lengths are the real DeepLocPro ones (../shared/data/deeplocpro/graphpart_partial.fasta,
study filter 40-1000 aa); features are random (speed does not depend on their values).

    .venv/bin/python benchmarks/train.py            # ~5 min on 2 cores
    .venv/bin/python benchmarks/train.py --quick    # ~1 min
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "workflow"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from perf import matmul_peak  # noqa: E402

from locfusion.batching import make_batches, padding_fraction  # noqa: E402
from locfusion.fasta import iter_fasta  # noqa: E402
from locfusion.models import build_model  # noqa: E402
from locfusion.training import _autocast  # noqa: E402

PARTIAL = REPO.parent / "shared/data/deeplocpro/graphpart_partial.fasta"


def real_lengths(n: int, seed: int = 0) -> np.ndarray:
    lengths = np.array([len(s) for _, s in iter_fasta(PARTIAL)])
    lengths = lengths[(lengths >= 40) & (lengths <= 1000)]
    return np.random.default_rng(seed).choice(lengths, size=min(n, len(lengths)), replace=False)


def make_features(lengths: np.ndarray, dims: Sequence[int], seed: int = 0) -> list[list[torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    return [[torch.randn(int(n), d, generator=gen).to(torch.float16) for n in lengths] for d in dims]


def batch_tensors(features: list[list[torch.Tensor]], idx: np.ndarray) -> tuple[list[torch.Tensor], torch.Tensor]:
    inputs = [torch.nn.utils.rnn.pad_sequence([f[i].float() for i in idx], batch_first=True) for f in features]
    return inputs, torch.as_tensor(np.asarray([features[0][i].shape[0] for i in idx]))


def train_steps(model: torch.nn.Module, features, lengths, batches, precision: str, count_flops: bool = False) -> tuple[float, float]:
    """(seconds, FLOPs) of forward + backward + optimizer step over `batches`."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    labels = torch.randint(0, 6, (len(lengths),), generator=torch.Generator().manual_seed(0))
    flops = 0.0
    start = time.perf_counter()
    for idx in batches:
        inputs, lens = batch_tensors(features, idx)
        counter = FlopCounterMode(display=False) if count_flops else None
        if counter:
            counter.__enter__()
        with _autocast(precision):
            logits = model(inputs, lens)
        loss = torch.nn.functional.cross_entropy(logits.float(), labels[torch.as_tensor(idx)])
        loss.backward()
        if counter:
            counter.__exit__(None, None, None)
            flops += counter.get_total_flops()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return time.perf_counter() - start, flops


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer proteins (about 1 minute)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the offline study runs 2 jobs x 1 thread)")
    parser.add_argument("--study-dims", action="store_true", help="ESM-2 1280 + ProstT5 1024 inputs instead of UniRep 1900 + BLOSUM 20")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    n = 64 if args.quick else 160
    lengths = real_lengths(n)
    dims = (1280, 1024) if args.study_dims else (1900, 20)
    features = make_features(lengths, dims)
    peaks = {p: matmul_peak(dt) for p, dt in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
    print(f"threads {args.threads}; matmul peak: fp32 {peaks['fp32']:.0f} GFLOP/s, bf16 {peaks['bf16']:.0f} GFLOP/s")
    print(f"{n} proteins, mean length {lengths.mean():.0f}, inputs {dims}, batch 32\n")
    header = f"{'model':<18}{'precision':<10}{'batches':<10}{'padding':>8}{'res/s':>9}{'GFLOP/s':>9}{'% peak':>8}"
    print(header)
    print("-" * len(header))
    results: dict[tuple[str, str, str], float] = {}
    for kind in ("fusion", "attention_pooling"):
        model_dims = dims if kind == "fusion" else dims[:1]
        for precision in ("fp32", "bf16"):
            for mode in ("bucketed", "random"):
                torch.manual_seed(0)
                model = build_model(kind, model_dims, {})
                model.train()
                feats = features if kind == "fusion" else features[:1]
                batches = make_batches(lengths, 32, np.random.default_rng(0), bucketed=mode == "bucketed")
                train_steps(model, feats, lengths, [batches[0][:4]], precision)  # warm-up (allocations, kernels)
                seconds, flops = train_steps(model, feats, lengths, batches, precision, count_flops=True)
                rate = lengths.sum() / seconds
                results[(kind, precision, mode)] = rate
                achieved = flops / seconds / 1e9
                print(f"{kind:<18}{precision:<10}{mode:<10}{padding_fraction(lengths, batches):>8.1%}{rate:>9.0f}"
                      f"{achieved:>9.1f}{achieved / peaks[precision]:>8.1%}")
    print()
    for kind in ("fusion", "attention_pooling"):
        for precision in ("fp32", "bf16"):
            ratio = results[(kind, precision, "bucketed")] / results[(kind, precision, "random")]
            print(f"{kind} {precision}: bucketed / random = {ratio:.2f}x")
        best = max(results[(kind, p, "bucketed")] for p in ("fp32", "bf16"))
        # ~630 training proteins per fold; validation (~210) costs a forward pass only (~1/3).
        epoch = (630 + 210 / 3) * lengths.mean() / best
        print(f"{kind}: estimated epoch of one offline-study fold: {epoch:.0f} s at {best:.0f} training res/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
