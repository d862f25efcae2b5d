"""The study's data shape on this machine: memory-mapped vs preloaded embeddings, one and two jobs.

The study trains on 11,531 proteins (mean ~418 residues) with ESM-2 (1280-d) and ProstT5 (1024-d)
inputs and its full-width fusion model (8,412,936 parameters), five folds in parallel. Preloading
gives every training job its own copy of the embeddings (~22 GB at full size); memory-mapping one
packed array per embedder (rule pack_embeddings) lets parallel jobs share the OS page cache.

Prints, from one run (a synthetic store of the study's shape at `--scale` of its size, lengths
drawn from the real DeepLocPro proteins, random float16 values; speed does not depend on them):
  - per loader (preloaded from the HDF5 shards, memory-mapped from the packed array): one job's
    peak RSS and peak private memory (USS, sampled), and for two jobs run side by side the memory
    the second adds (its peak USS: page-cache pages both map are shared, counted once by the system;
    a single job's USS still counts the mapped pages only it has touched);
  - the time of one pass over every protein's batch (what an epoch reads) plus `--steps`
    training steps of the full-width fusion model at fp32, and the ratio mapped / preloaded
    (target: no more than 1.10);
  - locfusion's training loop against a study-style loop written from the study's description
    (sections 3 and 4.2): one fp32 `.pt` file per protein read through a `DataLoader`, shuffled
    batches of 32 padded to the longest, the BiLSTM through `pack_padded_sequence`, fp32; the
    same width (the fusion model with its BiLSTM swapped), proteins and thread: residues/s of
    each over `--study-batches` batches and their ratio (target: >= 10x).

    .venv/bin/python benchmarks/study_scale.py                 # 1/8 of the study, ~6 min on 2 cores
    .venv/bin/python benchmarks/study_scale.py --scale 0.25    # 1/4 (needs ~12 GB free)
    .venv/bin/python benchmarks/study_scale.py --only-study-style   # the loop comparison only (~12 min)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "workflow"))

from locfusion.embedders.base import Embedder, RuntimeOptions  # noqa: E402
from locfusion.fasta import iter_fasta  # noqa: E402

# The real lengths: ../shared beside the checkout, or LOCFUSION_SHARED (as the tests).
PARTIAL = Path(os.environ.get("LOCFUSION_SHARED", REPO.parent / "shared")) / "data/deeplocpro/graphpart_partial.fasta"
STUDY_PROTEINS = 11_531
STUDY_DIMS = (1280, 1024)


class PoolEmbedder(Embedder):
    """Random float16-range values of a fixed width, cut from one pool: a fast stand-in for a pLM."""

    kind = "benchmark_pool"

    def __init__(self, name: str, dim: int, seed: int) -> None:
        super().__init__(name, {"kind": self.kind}, RuntimeOptions())
        self.dim = dim
        self.pool = np.random.default_rng(seed).standard_normal((4096, dim), dtype=np.float32)
        self.rng = np.random.default_rng(seed + 1)

    def embed_batch(self, sequences: Sequence[str]) -> list[np.ndarray]:
        out = []
        for seq in sequences:
            start = int(self.rng.integers(0, len(self.pool) - len(seq)))
            out.append(self.pool[start : start + len(seq)])
        return out


def build_store(root: Path, n: int, seed: int = 0) -> dict[str, Any]:
    """Shards (2 per embedder) and the packed arrays of `n` synthetic proteins; the dataset table."""
    from locfusion.store import embed_to_shard, pack_embeddings

    lengths = np.array([len(s) for _, s in iter_fasta(PARTIAL)])
    lengths = np.random.default_rng(seed).choice(lengths[(lengths >= 40) & (lengths <= 1000)], size=n)
    records = [(f"S{i:05d}", "L" * int(length)) for i, length in enumerate(lengths)]
    paths: dict[str, Any] = {"shards": {}, "packed": {}, "ids": [r for r, _ in records], "lengths": lengths.tolist()}
    for e, dim in enumerate(STUDY_DIMS):
        name = f"e{dim}"
        embedder = PoolEmbedder(name, dim, seed + e)
        shards = [root / f"{name}_shard_{k}.h5" for k in range(2)]
        for k, shard in enumerate(shards):
            embed_to_shard(embedder, records[k::2], shard, 16384, None, "crop", progress=False)
        pack_embeddings(shards, root / f"{name}.npy", root / f"{name}.tsv")
        paths["shards"][name] = [str(s) for s in shards]
        paths["packed"][name] = (str(root / f"{name}.npy"), str(root / f"{name}.tsv"))
    return paths


def uss_gb() -> float:
    """This process's private memory (USS: pages no other process maps), in GB."""
    rollup = Path("/proc/self/smaps_rollup").read_text().splitlines()
    return sum(int(line.split()[1]) for line in rollup if line.startswith(("Private_Clean", "Private_Dirty"))) / 2**20


class PeakUSS:
    """Samples USS every 0.2 s in a thread: the peak of what this job alone holds."""

    def __init__(self) -> None:
        import threading

        self.peak = uss_gb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, uss_gb())

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return max(self.peak, uss_gb())


def memory(peak_uss: float) -> dict[str, float]:
    """This process's peak RSS and peak USS, in GB."""
    status = Path("/proc/self/status").read_text()
    hwm = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
    return {"peak_rss_gb": hwm / 2**20, "uss_gb": peak_uss}


def job(store: dict[str, Any], loader: str, steps: int, ready: Any, go: Any, out: Any) -> None:
    """One training job: load (preloaded or mapped), read every batch once, train `steps` batches."""
    import pandas as pd
    import torch

    from locfusion.batching import make_batches
    from locfusion.classes import CLASSES
    from locfusion.models import build_model
    from locfusion.store import PackedEmbeddings, load_embeddings
    from locfusion.training import ProteinSet

    torch.set_num_threads(1)
    sampler = PeakUSS()
    names = list(store["shards"])
    started = time.perf_counter()
    if loader == "preloaded":
        stores = [load_embeddings(store["shards"][name]) for name in names]
    else:
        stores = [PackedEmbeddings(*store["packed"][name]) for name in names]
    table = pd.DataFrame({"id": store["ids"], "label": [CLASSES[i % 6] for i in range(len(store["ids"]))],
                          "group": "negative", "fold": 0})
    data = ProteinSet(table, stores, names)
    load_seconds = time.perf_counter() - started
    ready.set()
    go.wait()  # two jobs: both loaded before either trains
    batches = make_batches(data.lengths, 32, np.random.default_rng(0), bucketed=True)
    started = time.perf_counter()
    for idx in batches:  # what an epoch reads
        data.batch(idx)
    read_seconds = time.perf_counter() - started
    torch.manual_seed(0)
    model = build_model("fusion", data.dims)  # the study's width
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    started = time.perf_counter()
    residues = 0
    for idx in batches[:steps]:
        inputs, lengths, labels, _ = data.batch(idx)
        loss = torch.nn.functional.cross_entropy(model(inputs, lengths), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        residues += int(lengths.sum())
    train_seconds = time.perf_counter() - started
    out.put({"loader": loader, "load_s": load_seconds, "read_s": read_seconds, "train_s": train_seconds,
             "residues": residues, "n_params": sum(p.numel() for p in model.parameters()),
             **memory(sampler.stop())})


def packed_bilstm(hidden: int, lstm_hidden: int, layers: int, dropout: float):  # noqa: ANN201 (an nn.Module)
    """The study's BiLSTM as its description has it: nn.LSTM over `pack_padded_sequence`."""
    import torch

    class PackedBiLSTM(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = torch.nn.LSTM(hidden, lstm_hidden, num_layers=layers, bidirectional=True, batch_first=True,
                                      dropout=dropout)

        def forward(self, x, lengths):  # type: ignore[no-untyped-def]
            packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, _ = self.lstm(packed)
            return torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0]

    return PackedBiLSTM()


def study_style_comparison(store: dict[str, Any], batches: int, root: Path) -> dict[str, float]:
    """Residues/s of locfusion's loop and of a study-style loop on the same proteins, width and thread."""
    import pandas as pd
    import torch

    from locfusion.batching import make_batches
    from locfusion.classes import CLASSES
    from locfusion.models import FUSION_DEFAULTS, build_model
    from locfusion.store import PackedEmbeddings
    from locfusion.training import ProteinSet

    torch.set_num_threads(1)
    names = list(store["packed"])
    mapped = [PackedEmbeddings(*store["packed"][name]) for name in names]
    ids = store["ids"][: 32 * batches]
    labels = {pid: i % len(CLASSES) for i, pid in enumerate(ids)}
    files = []
    for pid in ids:  # the study's layout: one fp32 tensor file per protein
        path = root / f"{pid}.pt"
        torch.save({name: torch.from_numpy(np.asarray(m[pid], dtype=np.float32)) for name, m in zip(names, mapped)}, path)
        files.append(path)

    class PerProteinFiles(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(files)

        def __getitem__(self, i: int):  # type: ignore[no-untyped-def]
            return torch.load(files[i]), labels[ids[i]]

    def pad(items):  # type: ignore[no-untyped-def]
        lengths = torch.tensor([item[0][names[0]].shape[0] for item in items])
        inputs = [torch.nn.utils.rnn.pad_sequence([item[0][n] for item in items], batch_first=True) for n in names]
        return inputs, lengths, torch.tensor([item[1] for item in items])

    def train(model, loader) -> float:  # type: ignore[no-untyped-def]
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        residues, started = 0, time.perf_counter()
        for inputs, lengths, target in loader:
            loss = torch.nn.functional.cross_entropy(model(inputs, lengths), target)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            residues += int(lengths.sum())
        return residues / (time.perf_counter() - started)

    torch.manual_seed(0)
    study_model = build_model("fusion", [m.array.shape[1] for m in mapped])
    p = FUSION_DEFAULTS
    study_model.bilstm = packed_bilstm(p["hidden_dim"], p["lstm_hidden"], p["lstm_layers"], p["dropout"])
    generator = torch.Generator().manual_seed(0)
    study_loader = torch.utils.data.DataLoader(PerProteinFiles(), batch_size=32, shuffle=True, collate_fn=pad,
                                               generator=generator)
    study = train(study_model, study_loader)

    table = pd.DataFrame({"id": ids, "label": [CLASSES[labels[pid]] for pid in ids], "group": "negative", "fold": 0})
    data = ProteinSet(table, mapped, names)
    torch.manual_seed(0)
    ours_model = build_model("fusion", data.dims)
    ours_batches = make_batches(data.lengths, 32, np.random.default_rng(0), bucketed=True)
    ours = train(ours_model, ([*data.batch(idx)[:3]] for idx in ours_batches))
    return {"locfusion": ours, "study": study, "study_params": sum(x.numel() for x in study_model.parameters()),
            "params": sum(x.numel() for x in ours_model.parameters()), "proteins": len(ids)}


def run_jobs(store: dict[str, Any], loader: str, n_jobs: int, steps: int) -> list[dict[str, Any]]:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    go = ctx.Event()
    readies = [ctx.Event() for _ in range(n_jobs)]
    procs = [ctx.Process(target=job, args=(store, loader, steps, ready, go, out)) for ready in readies]
    for proc in procs:
        proc.start()
    for ready in readies:
        ready.wait()
    go.set()
    results = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.125, help="fraction of the study's 11,531 proteins")
    parser.add_argument("--steps", type=int, default=4, help="training steps of the full-width model per job")
    parser.add_argument("--dir", default=None, help="where to write the synthetic store (default: a temporary folder)")
    parser.add_argument("--study-batches", type=int, default=3, help="batches of 32 in the loop comparison")
    parser.add_argument("--only-study-style", action="store_true", help="only the loop comparison (a small store)")
    args = parser.parse_args(argv)
    n = 32 * args.study_batches if args.only_study_style else round(STUDY_PROTEINS * args.scale)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        started = time.perf_counter()
        store = build_store(Path(tmp), n)
        (Path(tmp) / "per_protein").mkdir()
        loops = study_style_comparison(store, args.study_batches, Path(tmp) / "per_protein")
        print(f"training loops, {loops['proteins']} proteins, full-width fusion, fp32, 1 thread: locfusion "
              f"(bucketed batches from mapped float16, {loops['params']:,} parameters) {loops['locfusion']:.0f} residues/s; "
              f"study-style (per-protein fp32 .pt files, DataLoader, shuffled batches, packed BiLSTM, "
              f"{loops['study_params']:,} parameters) {loops['study']:.0f} residues/s; "
              f"ratio {loops['locfusion'] / loops['study']:.2f}x (target >= 10x)")
        if args.only_study_style:
            return 0
        size = sum(Path(p).stat().st_size for p, _ in store["packed"].values()) / 2**30
        print(f"synthetic store: {n} proteins ({args.scale:g} of the study), mean length "
              f"{np.mean(store['lengths']):.0f}, inputs {STUDY_DIMS}, {size:.2f} GB float16 "
              f"(built in {time.perf_counter() - started:.0f} s)")
        results = {}
        for loader in ("preloaded", "mapped"):
            results[loader] = {"one": run_jobs(store, loader, 1, args.steps)[0],
                               "two": run_jobs(store, loader, 2, args.steps)}
        one = results["preloaded"]["one"]
        print(f"fusion model: {one['n_params']:,} parameters; {args.steps} steps of 32 proteins, fp32, 1 thread a job\n")
        header = (f"{'loader':<11}{'1 job: peak RSS':>16}{'peak USS':>10}{'2 jobs: 2nd adds':>18}{'/ 1st RSS':>11}"
                  f"{'read pass s':>13}{'train res/s':>13}")
        print(header)
        print("-" * len(header))
        for loader, r in results.items():
            first, second = sorted(r["two"], key=lambda x: x["uss_gb"])[::-1]
            adds = second["uss_gb"]
            rate = r["one"]["residues"] / r["one"]["train_s"]
            print(f"{loader:<11}{r['one']['peak_rss_gb']:>14.2f}GB{r['one']['uss_gb']:>8.2f}GB{adds:>16.2f}GB"
                  f"{adds / r['one']['peak_rss_gb']:>11.1%}{r['one']['read_s']:>13.1f}{rate:>13.0f}")
        pre, mapped = results["preloaded"]["one"], results["mapped"]["one"]
        epoch = {k: v["read_s"] + v["train_s"] for k, v in (("preloaded", pre), ("mapped", mapped))}
        print(f"\nmapped / preloaded time (read pass + {args.steps} steps): {epoch['mapped'] / epoch['preloaded']:.2f}x "
              "(target <= 1.10)")
        print(json.dumps({k: {"one": v["one"], "two": v["two"]} for k, v in results.items()}, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
