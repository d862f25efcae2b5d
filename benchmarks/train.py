"""Training throughput: length-bucketed vs random batches, fp32 vs bf16, against the matmul peak.

Prints, from one run on this machine:
  - the measured matrix-multiply peak (GFLOP/s) at fp32 and bf16 with the same threads;
  - for the fusion model (inputs UniRep-1900 + BLOSUM62-20 as in the offline study, or
    ESM-2 1280 + ProstT5 1024 with --study-dims; width of the offline study, or the study's with
    --study-width) and attention pooling: training residues/s (real residues, padding excluded),
    achieved GFLOP/s and its fraction of the peak at the same precision;
  - the ratio bucketed / random batching, measured in the same run;
  - an estimate of one training epoch of one offline-study fold (~630 training and ~210
    validation proteins).

FLOPs are what the hardware computed, padding included: torch.utils.flop_counter over one
untimed pass of the same batches (so its overhead stays out of the timing), plus the LSTM's
gate products counted analytically (the counter has no formula for the fused oneDNN LSTM).
The timed pass is forward + backward + AdamW step, as in training. Protein lengths are the real
DeepLocPro ones (../shared/data/deeplocpro/graphpart_partial.fasta, study filter 40-1000 aa);
features are random (speed does not depend on their values).

    .venv/bin/python benchmarks/train.py                 # ~3 min on 2 idle cores
    .venv/bin/python benchmarks/train.py --quick         # ~1 min
    .venv/bin/python benchmarks/train.py --study-width   # the study's 8.4 M-parameter width
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

from perf import deeplocpro_lengths, matmul_peak  # noqa: E402

from locfusion.batching import make_batches, padding_fraction  # noqa: E402
from locfusion.models import build_model  # noqa: E402
from locfusion.training import autocast  # noqa: E402

def real_lengths(n: int, seed: int = 0) -> np.ndarray:
    lengths = deeplocpro_lengths()
    return np.random.default_rng(seed).choice(lengths, size=min(n, len(lengths)), replace=False)


def make_features(lengths: np.ndarray, dims: Sequence[int], seed: int = 0) -> list[list[torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    return [[torch.randn(int(n), d, generator=gen).to(torch.float16) for n in lengths] for d in dims]


def batch_tensors(features: list[list[torch.Tensor]], idx: np.ndarray) -> tuple[list[torch.Tensor], torch.Tensor]:
    inputs = [torch.nn.utils.rnn.pad_sequence([f[i].float() for i in idx], batch_first=True) for f in features]
    return inputs, torch.as_tensor(np.asarray([features[0][i].shape[0] for i in idx]))


def train_steps(model: torch.nn.Module, features, lengths, batches, precision: str) -> float:
    """Seconds of forward + backward + optimizer step over `batches`."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    labels = torch.randint(0, 6, (len(lengths),), generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    for idx in batches:
        inputs, lens = batch_tensors(features, idx)
        with autocast(precision):
            logits = model(inputs, lens)
        torch.nn.functional.cross_entropy(logits.float(), labels[torch.as_tensor(idx)]).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def counted_flops(model: torch.nn.Module, features, lengths, batches, precision: str) -> float:
    """FLOPs of forward + backward over `batches`: the counter's, plus the LSTM's gate products."""
    total = 0.0
    for idx in batches:
        inputs, lens = batch_tensors(features, idx)
        with FlopCounterMode(display=False) as counter:
            with autocast(precision):
                logits = model(inputs, lens)
            logits.float().sum().backward()
        total += counter.get_total_flops()
        total += lstm_flops(model, len(idx) * int(lengths[idx].max()))
    model.zero_grad(set_to_none=True)
    return total


def lstm_flops(model: torch.nn.Module, positions: int) -> float:
    """Forward + backward FLOPs of every nn.LSTM in `model` over `positions` (padded) time steps.

    Per step and direction an LSTM multiplies [x, h] (input + hidden) by the 4 gates' weights:
    2 * 4H * (I + H) FLOPs forward; backward costs twice that (input and weight gradients).
    """
    flops = 0.0
    for lstm in (m for m in model.modules() if isinstance(m, torch.nn.LSTM)):
        directions = 2 if lstm.bidirectional else 1
        for layer in range(lstm.num_layers):
            inputs = lstm.input_size if layer == 0 else directions * lstm.hidden_size
            flops += 3 * directions * 2 * 4 * lstm.hidden_size * (inputs + lstm.hidden_size) * positions
    return flops


OFFLINE_FUSION = {"hidden_dim": 128, "attention_heads": 8, "lstm_hidden": 64, "pool_heads": 4, "classifier_hidden": 64}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer proteins (about 1 minute)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the offline study runs 2 jobs x 1 thread)")
    parser.add_argument("--study-dims", action="store_true", help="ESM-2 1280 + ProstT5 1024 inputs instead of UniRep 1900 + BLOSUM 20")
    parser.add_argument("--study-width", action="store_true",
                        help="the study's fusion width (hidden 512, LSTM 256) instead of the offline study's (128, 64)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    n = 64 if args.quick else 160
    lengths = real_lengths(n)
    dims = (1280, 1024) if args.study_dims else (1900, 20)
    features = make_features(lengths, dims)
    peaks = {p: matmul_peak(dt) for p, dt in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
    print(f"threads {args.threads}; matmul peak: fp32 {peaks['fp32']:.0f} GFLOP/s, bf16 {peaks['bf16']:.0f} GFLOP/s")
    fusion_params = {} if args.study_width else OFFLINE_FUSION
    print(f"{n} proteins, mean length {lengths.mean():.0f}, inputs {dims}, batch 32, "
          f"fusion {'study width' if args.study_width else OFFLINE_FUSION}\n")
    header = f"{'model':<18}{'precision':<10}{'batches':<10}{'padding':>8}{'res/s':>9}{'GFLOP/s':>9}{'% peak':>8}"
    print(header)
    print("-" * len(header))
    results: dict[tuple[str, str, str], float] = {}
    for kind in ("fusion", "attention_pooling"):
        model_dims = dims if kind == "fusion" else dims[:1]
        for precision in ("fp32", "bf16"):
            for mode in ("bucketed", "random"):
                torch.manual_seed(0)
                model = build_model(kind, model_dims, fusion_params if kind == "fusion" else {})
                model.train()
                feats = features if kind == "fusion" else features[:1]
                batches = make_batches(lengths, 32, np.random.default_rng(0), bucketed=mode == "bucketed")
                train_steps(model, feats, lengths, [batches[0][:4]], precision)  # warm-up (allocations, kernels)
                seconds = train_steps(model, feats, lengths, batches, precision)
                flops = counted_flops(model, feats, lengths, batches, precision)
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
