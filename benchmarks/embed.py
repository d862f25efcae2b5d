"""Embedding throughput on this machine, and what it means for the study's 11,906 proteins.

Not a test: it prints, in one run,
  1. the measured matmul peak (GFLOP/s) at fp32 and bf16 with all usable cores;
  2. for ESM-2 shapes (random weights of the real architectures, saved as real
     fair-esm checkpoints and run through the `esm2` embedder) and for UniRep-1900
     (real weights): residues/s in token-budget batches vs one protein at a time,
     and the achieved matmul FLOP/s as a fraction of the measured peak at the
     same precision;
  3. estimated hours to embed the DeepLocPro set with ESM-2 650M and ProstT5 on
     a 45-core CPU server (scaled from the per-core FLOP/s measured here) and on
     one GPU (an assumed throughput, labelled as such).

Proteins are real DeepLocPro sequences. Every ratio is measured within the run,
so a busy machine shifts the absolute numbers more than the ratios; the load
average is printed at the start and the end.

    .venv/bin/python benchmarks/embed.py              # ~3-5 min on 2 idle cores
    .venv/bin/python benchmarks/embed.py --quick      # ~1 min
    .venv/bin/python benchmarks/embed.py --rounds 3   # best of 3 per row, on a busy machine
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the checkpoint writer shared with the tests

from plm_fixtures import make_esm2_checkpoint  # noqa: E402
from perf import best_time, matmul_peak, sustained_matmul  # noqa: E402

from locfusion.embedders import RuntimeOptions, build_embedder  # noqa: E402
from locfusion.fasta import iter_fasta  # noqa: E402
from locfusion.store import length_batches  # noqa: E402

DEFAULT_FASTA = REPO.parent / "shared" / "data" / "deeplocpro" / "graphpart_partial.fasta"
STUDY_PROTEINS = 11_906
STUDY_MEAN_LENGTH = 438
SERVER_CORES = 45
# Assumption, not a measurement (no GPU here): effective fp16 throughput of one A100-class GPU
# on these encoders with length-sorted token batches, ~13 % of its 312 TFLOP/s dense peak
# (fair-esm's attention is unfused; padding, host transfers and HDF5 writes also cost).
GPU_ASSUMED_TFLOPS = 40.0
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


# ----------------------------------------------------------------------------- helpers


def esm2_flops(lengths: Sequence[int], n_layers: int, d: int, alphabet: int = 33) -> float:
    """Matmul FLOPs of a fair-esm ESM-2 forward on these proteins (BOS/EOS included, no padding).

    Per layer and token: QKV + output projections 8 d^2, feed-forward 16 d^2; per
    layer and sequence: scores and weighted values 4 n^2 d; plus the LM head.
    """
    total = 0.0
    for length in lengths:
        n = length + 2
        total += n_layers * (24 * n * d * d + 4 * n * n * d) + 2 * n * d * d + 2 * n * d * alphabet
    return total


def unirep_flops(lengths: Sequence[int], size: int) -> float:
    """Recurrent matmul FLOPs of UniRep: h W_mh (H x H) and m W_h (H x 4H) per step, start token included."""
    return sum((length + 1) * 2 * (size * size + size * 4 * size) for length in lengths)


def run_batched(embedder, seqs: Sequence[str], tokens_per_batch: int) -> None:
    for batch in length_batches([len(s) for s in seqs], tokens_per_batch):
        embedder.embed_batch([seqs[i] for i in batch])


def run_single(embedder, seqs: Sequence[str]) -> None:
    for s in seqs:
        embedder.embed_batch([s])


def pick_proteins(all_seqs: Sequence[str], n: int, max_len: int, seed: int = 0) -> list[str]:
    """A random sample of real proteins (standard residues, <= max_len), so length mix is realistic."""
    rng = np.random.default_rng(seed)
    pool = [s for s in all_seqs if 40 <= len(s) <= max_len]
    return [pool[i] for i in rng.choice(len(pool), size=min(n, len(pool)), replace=False)]


def count_params_meta(build: Callable[[], torch.nn.Module]) -> int:
    """Parameter count of an architecture without allocating it (meta device)."""
    with torch.device("meta"):
        model = build()
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------- benchmark


@dataclass
class Case:
    """One row of the table: an embedder, its proteins, and how to count its FLOPs."""

    label: str
    embedder: object
    seqs: list[str]
    single: list[str]
    flops: Callable[[Sequence[int]], float]
    precision: str
    tokens_per_batch: int
    runs: list[dict[str, float]] = field(default_factory=list)

    def measure_once(self, sustain_s: float) -> None:
        """Batched and 1-by-1 wall time, plus a plain matmul's mean rate just before and after the batched run.

        On a shared machine that rate is what the CPU gives us right now, so
        "%now" compares the model with a matmul under the same contention.
        """
        self.embedder.embed_batch(list(self.seqs[:2]))  # warm-up: lazy init, allocator, oneDNN kernels
        before = sustained_matmul(DTYPES[self.precision], sustain_s)
        t0 = time.perf_counter()
        run_batched(self.embedder, self.seqs, self.tokens_per_batch)
        t_batch = time.perf_counter() - t0
        now = (before + sustained_matmul(DTYPES[self.precision], sustain_s)) / 2
        t0 = time.perf_counter()
        run_single(self.embedder, self.single)
        self.runs.append({"t_batch": t_batch, "t_single": time.perf_counter() - t0, "now": now})

    def summary(self, peak: float) -> dict[str, float]:
        """Best run of each kind: the least disturbed by other processes."""
        t_batch = min(r["t_batch"] for r in self.runs)
        t_single = min(r["t_single"] for r in self.runs)
        flops = self.flops([len(s) for s in self.seqs])
        gflops = flops / t_batch / 1e9
        return {
            "res_s_batched": sum(map(len, self.seqs)) / t_batch,
            "res_s_single": sum(map(len, self.single)) / t_single,
            "ratio": t_single / sum(map(len, self.single)) * sum(map(len, self.seqs)) / t_batch,
            "gflops": gflops,
            "frac_peak": gflops / peak,
            "now": max(r["now"] for r in self.runs),
            "frac_now": max(flops / r["t_batch"] / 1e9 / r["now"] for r in self.runs),
            # one protein at a time, against the "now" rate measured around the batched run
            "frac_now_single": max(self.flops([len(s) for s in self.single]) / r["t_single"] / 1e9 / r["now"]
                                   for r in self.runs),
        }


def print_table(cases: Sequence[Case], peak: dict[str, float]) -> dict[str, dict[str, float]]:
    width = max(len(c.label) for c in cases) + 2
    print(f"  {'model / precision':<{width}} {'res/s':>8} {'res/s':>8} {'ratio':>6} {'GFLOP/s':>8} {'%peak':>6} {'now':>6} "
          f"{'%now':>5} {'%now':>7} {'ratio':>7}")
    print(f"  {'':<{width}} {'batched':>8} {'1-by-1':>8} {'':>6} {'batched':>8} {'':>6} {'GF/s':>6} {'':>5} "
          f"{'1-by-1':>7} {'ceiling':>7}")
    rows = {}
    for c in cases:
        r = rows[c.label] = c.summary(peak[c.precision])
        print(
            f"  {c.label:<{width}} {r['res_s_batched']:>8.0f} {r['res_s_single']:>8.0f} {r['ratio']:>5.1f}x "
            f"{r['gflops']:>8.0f} {100 * r['frac_peak']:>5.0f}% {r['now']:>6.0f} {100 * r['frac_now']:>4.0f}% "
            f"{100 * r['frac_now_single']:>6.0f}% {1 / r['frac_now_single']:>6.1f}x"
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer proteins and repeats (~1 min)")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="default: usable cores")
    parser.add_argument("--fasta", type=Path, default=DEFAULT_FASTA)
    parser.add_argument("--rounds", type=int, default=1, help="measure every row this many times, keep the best")
    parser.add_argument("--tokens-per-batch", type=int, default=8192, help="token budget of a batch (config default)")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    quick = args.quick
    sustain_s = 1.0 if quick else 2.0
    all_seqs = [s for _, s in iter_fasta(args.fasta)]
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")), platform.processor())
    flags = Path("/proc/cpuinfo").read_text()
    isa = [f for f in ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if f in flags]
    print(f"CPU: {cpu}; {args.threads} threads; {', '.join(isa) or 'no AVX-512'}; torch {torch.__version__}")
    print(f"load average at start: {os.getloadavg()[0]:.2f} (other processes skew absolute numbers)")

    # 1. peak
    n_mm = 1024 if quick else 2048
    peak = {
        "fp32": matmul_peak(torch.float32, n_mm, 3 if quick else 5),
        "bf16": matmul_peak(torch.bfloat16, n_mm, 3 if quick else 5),
    }
    print(f"\n1. matmul peak ({n_mm}x{n_mm}, best of runs): fp32 {peak['fp32']:.0f} GFLOP/s, "
          f"bf16 {peak['bf16']:.0f} GFLOP/s (bf16/fp32 = {peak['bf16'] / peak['fp32']:.1f}x)")

    # 2. models
    n_esm = 12 if quick else 32
    esm_seqs = pick_proteins(all_seqs, n_esm, 1000)
    single_esm = esm_seqs[: (3 if quick else 8)]
    ur_seqs = pick_proteins(all_seqs, 12 if quick else 32, 1000, seed=1)
    print(f"\n2. throughput: ESM-2 on {len(esm_seqs)} real proteins (mean length {np.mean([len(s) for s in esm_seqs]):.0f}; "
          f"1-by-1 on {len(single_esm)}), UniRep on {len(ur_seqs)} (1-by-1 on 2); token budget {args.tokens_per_batch}; "
          f"best of {args.rounds} round(s)", flush=True)
    cases: list[Case] = []
    with tempfile.TemporaryDirectory() as tmp:
        shapes = [("esm2_t12_35M", 12, 480, 20), ("esm2_t33_650M width, 2 of 33 layers", 2, 1280, 20)]
        if quick:
            shapes = shapes[1:]
        for label, layers, dim, heads in shapes:
            ckpt = make_esm2_checkpoint(
                Path(tmp) / f"t{layers}_{dim}", num_layers=layers, embed_dim=dim, attention_heads=heads,
                name=f"esm2_bench_t{layers}_{dim}", with_regression=False,
            )
            flops = lambda ls, L=layers, d=dim: esm2_flops(ls, L, d)  # noqa: E731
            for prec in ("fp32", "bf16"):
                emb = build_embedder("bench", {"kind": "esm2", "model": str(ckpt)}, RuntimeOptions("cpu", prec, args.threads))
                cases.append(Case(f"{label} {prec}", emb, esm_seqs, single_esm, flops, prec, args.tokens_per_batch))
            if "650M" in label and not quick:
                # Investigations: a CPU-sized token budget, and bf16 weights instead of autocast.
                for prec in ("fp32", "bf16"):
                    emb = build_embedder("bench", {"kind": "esm2", "model": str(ckpt)}, RuntimeOptions("cpu", prec, args.threads))
                    cases.append(Case(f"{label} {prec}, budget 2048", emb, esm_seqs, single_esm, flops, prec, 2048))
                emb = build_embedder("bench", {"kind": "esm2", "model": str(ckpt)}, RuntimeOptions("cpu", "bf16", args.threads))
                emb.model = emb.model.to(torch.bfloat16)
                emb.autocast_dtype = torch.float32
                cases.append(Case(f"{label} bf16 weights, no autocast", emb, esm_seqs, single_esm, flops, "bf16",
                                  args.tokens_per_batch))
    for prec in ("fp32", "bf16"):
        emb = build_embedder("bench", {"kind": "unirep", "size": 1900}, RuntimeOptions("cpu", prec, args.threads))
        cases.append(Case(f"UniRep-1900 {prec}", emb, ur_seqs, ur_seqs[:2],
                          lambda ls: unirep_flops(ls, 1900), prec, args.tokens_per_batch))
        if not quick:  # more rows per recurrent step: the weights are read once per step for all of them
            cases.append(Case(f"UniRep-1900 {prec}, budget 32768", emb, ur_seqs, ur_seqs[:2],
                              lambda ls: unirep_flops(ls, 1900), prec, 32768))
    for round_ in range(args.rounds):
        for case in cases:
            case.measure_once(sustain_s)
        print(f"  round {round_ + 1}/{args.rounds} done (load average {os.getloadavg()[0]:.2f})", flush=True)
    rows = print_table(cases, peak)

    peak_end = {"fp32": matmul_peak(torch.float32, n_mm, 3), "bf16": matmul_peak(torch.bfloat16, n_mm, 3)}
    print(f"  matmul peak re-measured at the end: fp32 {peak_end['fp32']:.0f}, bf16 {peak_end['bf16']:.0f} GFLOP/s "
          "(%peak above uses the start values)")
    print("  ratio: batched / 1-by-1 residues/s. GFLOP/s counts matmul FLOPs on real tokens only (padding is waste).\n"
          "  %peak: vs the best-of peak above; now, %now: vs a plain matmul's mean rate just before and after\n"
          "  the batched run (like-for-like when other processes share the CPU).\n"
          "  ratio ceiling = 1 / (%now 1-by-1): one protein at a time already runs at that share of the matmul\n"
          "  rate, so no batching can be faster than this multiple (batching only removes the rest).")

    # 3. estimates for the study
    from esm.model.esm2 import ESM2
    from transformers import T5Config, T5EncoderModel

    esm650 = count_params_meta(lambda: ESM2(num_layers=33, embed_dim=1280, attention_heads=20))
    # ProstT5 = ProtT5-XL-U50 architecture (T5 3B: d_model 1024, d_ff 16384, 24 layers, 32 heads x 128).
    prost_cfg = T5Config(vocab_size=150, d_model=1024, d_kv=128, d_ff=16384, num_layers=24, num_heads=32, feed_forward_proj="relu")
    prost = count_params_meta(lambda: T5EncoderModel(prost_cfg))
    residues = STUDY_PROTEINS * STUDY_MEAN_LENGTH
    n = STUDY_MEAN_LENGTH + 2
    attn = lambda layers, width: layers * 4 * n * width  # noqa: E731  per-token attention FLOPs at mean length
    per_res = {
        "ESM-2 650M": 2 * esm650 + attn(33, 1280),
        "ProstT5 encoder": 2 * prost + attn(24, 32 * 128),
    }
    print(f"\n3. estimates for {STUDY_PROTEINS:,} proteins x {STUDY_MEAN_LENGTH} residues = {residues / 1e6:.2f} M residues")
    print(f"   ESM-2 650M: {esm650 / 1e6:.0f} M params; ProstT5 encoder: {prost / 1e6:.0f} M params "
          "(FLOPs/residue = 2 x params + attention at mean length)")
    for prec in ("fp32", "bf16"):
        # The embedder as shipped (autocast for bf16), batched at the better token budget or 1-by-1.
        options = [
            (f"{k}, {mode}", v[key])
            for k, v in rows.items()
            if k.startswith("esm2_t33_650M") and f" {prec}" in k and "autocast" not in k
            for mode, key in (("batched", "frac_now"), ("1-by-1", "frac_now_single"))
        ]
        label, frac = max(options, key=lambda kv: kv[1])
        # Efficiency measured under the same contention as its reference, applied to the uncontended peak.
        best_peak = max(peak[prec], peak_end[prec])
        per_core = frac * best_peak * 1e9 / args.threads
        print(f"   CPU {prec}: '{label}' ran at {100 * frac:.0f}% of the matmul rate "
              f"-> {per_core / 1e9:.0f} GFLOP/s/core (x {best_peak:.0f} GFLOP/s peak / {args.threads}) x {SERVER_CORES} cores"
              + (" (needs AVX512-BF16/AMX on the server)" if prec == "bf16" else ""))
        for model, f in per_res.items():
            hours = residues * f / (per_core * SERVER_CORES) / 3600
            print(f"      {model:<16} {f / 1e9:5.2f} GFLOP/residue  ->  {hours:6.1f} h")
    print("   (CPU hours assume this per-core rate on all 45 cores: a different CPU, memory bandwidth shared by\n"
          "   45 cores and the fold jobs running beside the embedding change it; take it as a lower bound)")
    for model, f in per_res.items():
        hours = residues * f / (GPU_ASSUMED_TFLOPS * 1e12) / 3600
        print(f"   GPU (ASSUMED {GPU_ASSUMED_TFLOPS:.0f} TFLOP/s effective fp16, A100-class): {model:<16} -> {hours:5.2f} h")

    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
