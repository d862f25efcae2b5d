"""A GPU check of the real code at the study's size, in one call of at most ~10 minutes.

1. Training: one fold of the study's full-width fusion model (8,412,936 parameters) on synthetic
   full-size data (11,531 proteins, lengths drawn from the real DeepLocPro proteins, ESM-2-wide
   1280 + ProstT5-wide 1024 float16 inputs; 3 folds train, 1 validates) for `--epochs` epochs
   through `locfusion.training.train_fold`, on `--device` at `--precision`. Prints seconds per
   epoch, training residues/s and peak GPU memory. Target on an H100/H200-class GPU: < 30 s per
   full-size epoch.
2. Embedding: a randomly initialised ESM-2 650M-shaped model (33 layers, 1280-d, 20 heads; the
   real weights are not reachable here, the arithmetic is the same) written as a fair-esm
   checkpoint and loaded through the real `esm2` embedder; `--embed` proteins embedded through
   `store.embed_to_shard`. Prints residues/s and peak GPU memory.

    benchmarks/gpu_check.sh                       # on a GPU: everything at full size
    .venv/bin/python benchmarks/gpu_check.py --tiny --device cpu   # a smoke test of the script
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "workflow"))
sys.path.insert(0, str(REPO / "tests"))

STUDY_PROTEINS = 11_531


def lengths_like_deeplocpro(n: int, seed: int = 0) -> np.ndarray:
    from perf import deeplocpro_lengths  # benchmarks/, this script's folder

    return np.random.default_rng(seed).choice(deeplocpro_lengths(), size=n)


def synthetic_sets(n: int, dims: Sequence[int], seed: int = 0):  # noqa: ANN201 (two ProteinSets)
    """Train (folds 2-4) and validation (fold 1) sets whose features are views of one random pool."""
    import pandas as pd

    from locfusion.classes import CLASSES
    from locfusion.training import ProteinSet

    rng = np.random.default_rng(seed)
    lengths = lengths_like_deeplocpro(n, seed)
    pools = [rng.standard_normal((2048, d), dtype=np.float32).astype(np.float16) for d in dims]
    ids = [f"S{i:05d}" for i in range(n)]
    starts = rng.integers(0, 2048 - 1000, size=n)
    stores = [{pid: pool[s : s + int(length)] for pid, s, length in zip(ids, starts, lengths)} for pool in pools]
    table = pd.DataFrame({"id": ids, "label": [CLASSES[i % len(CLASSES)] for i in range(n)], "group": "negative",
                          "fold": np.arange(n) % 5})
    names = [f"e{d}" for d in dims]
    return (ProteinSet(table[table.fold.isin([2, 3, 4])], stores, names),
            ProteinSet(table[table.fold == 1], stores, names))


def peak_gpu_gb(device: str) -> float:
    import torch

    return torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else float("nan")


def check_training(args: argparse.Namespace, device: str) -> None:
    import torch

    from locfusion.training import ExperimentSpec, TrainingSettings, train_fold

    dims = (64, 48) if args.tiny else (1280, 1024)
    params = {"hidden_dim": 32, "attention_heads": 4, "lstm_hidden": 16, "pool_heads": 4,
              "classifier_hidden": 16} if args.tiny else {}
    n = 60 if args.tiny else STUDY_PROTEINS
    train, val = synthetic_sets(n, dims)
    spec = ExperimentSpec("gpu_check", "fusion", tuple(f"e{d}" for d in dims), params)
    settings = TrainingSettings(epochs=args.epochs, patience=args.epochs, batch_size=32, device=device,
                                precision=args.precision, seed=42)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as tmp:
        model, history, result = train_fold(spec, settings, train, val, Path(tmp) / "checkpoint.pt", threads=args.threads)
    n_params = sum(p.numel() for p in model.parameters())
    residues = int(train.lengths.sum())
    print(f"training: {len(train)} training + {len(val)} validation proteins (mean length "
          f"{train.lengths.mean():.0f}), inputs {dims}, fusion {n_params:,} parameters, {device}, "
          f"precision {result.precision}, batch 32")
    for row in history:
        print(f"  epoch {row['epoch']}: {row['seconds']:.1f} s (training + validation), "
              f"{residues / row['seconds']:.0f} training residues per epoch-second, val MCC {row['val_mcc']:.3f}")
    print(f"  peak GPU memory {peak_gpu_gb(device):.2f} GB; target on an H100/H200: < 30 s per full-size epoch")


def check_embedding(args: argparse.Namespace, device: str) -> None:
    import torch
    from plm_fixtures import make_esm2_checkpoint

    from locfusion.device import resolve_precision
    from locfusion.embedders import RuntimeOptions, build_embedder
    from locfusion.store import embed_to_shard

    shape = (2, 32, 4) if args.tiny else (33, 1280, 20)  # layers, width, heads of ESM-2 650M
    n = 20 if args.tiny else args.embed
    lengths = lengths_like_deeplocpro(n, seed=1)
    rng = np.random.default_rng(1)
    records = [(f"E{i}", "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), int(length)))) for i, length in enumerate(lengths)]
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        checkpoint = make_esm2_checkpoint(tmp, num_layers=shape[0], embed_dim=shape[1], attention_heads=shape[2],
                                          name=f"esm2_t{shape[0]}_random_UR50D", with_regression=False)
        runtime = RuntimeOptions(device=device, precision=resolve_precision("auto", device), threads=args.threads)
        embedder = build_embedder("esm2_random", {"kind": "esm2", "model": str(checkpoint)}, runtime)
        built = time.perf_counter() - started
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        embed_to_shard(embedder, records, Path(tmp) / "shard.h5", 16384 if device.startswith("cuda") else 4096,
                       1000, "crop", progress=False)
        seconds = time.perf_counter() - started
    print(f"embedding: random ESM-2 {shape[0]} layers x {shape[1]} ({built:.0f} s to write and load), {n} proteins, "
          f"{int(lengths.sum())} residues, {runtime.precision}: {seconds:.1f} s, {lengths.sum() / seconds:.0f} residues/s, "
          f"peak GPU memory {peak_gpu_gb(device):.2f} GB")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: %(default)s)")
    parser.add_argument("--precision", default="auto", help="training precision (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--embed", type=int, default=300, help="proteins to embed (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: checks the script itself, on any device")
    args = parser.parse_args(argv)
    import torch

    from locfusion.device import resolve_device

    device = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    print(f"device {device}" + (f" ({torch.cuda.get_device_name(device)})" if device.startswith("cuda") else "")
          + f", torch {torch.__version__}" + (", TINY sizes" if args.tiny else ""))
    check_training(args, device)
    check_embedding(args, device)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
