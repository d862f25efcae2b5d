"""The study's data shape on this machine: memory-mapped vs preloaded embeddings, one and two jobs.

The study trains on 11,531 proteins (mean ~418 residues) with ESM-2 (1280-d) and ProstT5 (1024-d)
inputs and its full-width fusion model (8,412,936 parameters), five folds in parallel. Preloading
gives every training job its own copy of the embeddings (~22 GB at full size); memory-mapping one
packed array per embedder (rule pack_embeddings) lets parallel jobs share the OS page cache.

Prints, from one run (a synthetic store of the study's shape at `--scale` of its size, lengths
drawn from the real DeepLocPro proteins, random float16 values; speed does not depend on them):
  - per loader (preloaded from the HDF5 shards, memory-mapped from the packed array), two
    training jobs run side by side (as parallel folds run): a job's peak RSS, and the memory the
    second adds, its peak private memory (USS, sampled: page-cache pages both jobs map are shared,
    counted once by the system), against the first's RSS (target: less than 25 %); each job trains
    the epoch's longest batch, so the peak is the working set every epoch reaches;
  - the time of one pass over every protein's batch (what an epoch reads) plus `--steps`
    training steps of the full-width fusion model at fp32, and the ratio mapped / preloaded
    (target: no more than 1.10);
  - locfusion's training loop against a study-style loop written from the study's description
    (sections 3 and 4.2): one fp32 `.pt` file per protein read through a `DataLoader`, shuffled
    batches of 32 padded to the longest, the BiLSTM through `pack_padded_sequence`, fp32; the
    same width (the fusion model with its BiLSTM swapped), store and threads (`--study-threads`,
    default 2: this machine's cores, as a job gets them): residues/s of each over an epoch of the
    store, estimated on `--study-batches` of the study-style epoch's shuffled batches and twice as
    many of locfusion's bucketed batches stratified by length, per batch and pooled, and their
    ratio (target: >= 10x).
  - training throughput of the full-width fusion model and of attention pooling at the study's
    input width, per thread at fp32 and at bf16 where the CPU computes it natively (elsewhere it is
    emulated and not measured), on `--throughput-batches` batches stratified by length over an epoch
    of the real proteins, and as a % of this machine's matmul peak at the same precision and threads
    (target >= 50 %): the burst peak and the sustained one around each run; at 1 and 2 threads;
  - embedding throughput of an ESM-2 650M-shaped and a ProstT5-encoder-shaped layer (random
    weights: the arithmetic is the real models'), per thread and at 2 threads;
  - the projected wall time of the whole study on a 45-core server (embedding both pLMs with the
    config's embedding threads; 2 experiments x 5 folds at 5 x 9 threads, at 50 epochs and at the
    study's observed ~37), from those rates and an Amdahl fit of the 1 -> 2 thread scaling,
    against the study's 10 days.

    .venv/bin/python benchmarks/study_scale.py                 # 1/8 of the study (~15 min on 2 cores)
    .venv/bin/python benchmarks/study_scale.py --scale 0.25    # 1/4 (needs ~12 GB free)
    .venv/bin/python benchmarks/study_scale.py --only-study-style   # the loop comparison only
    .venv/bin/python benchmarks/study_scale.py --only-throughput    # rates and the 45-core projection (~3 min)
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing as mp
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "workflow"))
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests"))  # plm_fixtures: random ESM-2 checkpoints

from locfusion.embedders.base import Embedder, RuntimeOptions  # noqa: E402
from perf import deeplocpro_lengths  # noqa: E402

STUDY_PROTEINS = 11_531
STUDY_MEAN_LENGTH = 418  # residues: the study's proteins (DeepLocPro's 40-1000 aa here average less)
STUDY_DIMS = (1280, 1024)
# The study's protocol (its section 4): 5 folds, 3 train / 1 validation / 1 test fold each, at most
# 50 epochs, converged in 32-42 (mean ~37), 5 folds in parallel at 9 threads on 45 cores, ~10 days.
STUDY_EPOCHS = (50, 37)
STUDY_DAYS = 10
STUDY_THREADS, STUDY_CORES = 9, 45


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

    lengths = np.random.default_rng(seed).choice(deeplocpro_lengths(), size=n)
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
    """One training job: load (preloaded or mapped), read every batch once, train `steps` batches
    (the epoch's longest first)."""
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
    # the epoch's longest batch first: the largest working set, which every epoch reaches
    longest = max(range(len(batches)), key=lambda k: int(data.lengths[batches[k]].max()))
    batches = [batches[longest], *batches[:longest], *batches[longest + 1 :]]
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


def study_style_comparison(store: dict[str, Any], batches: int, root: Path, threads: int) -> dict[str, Any]:
    """Residues/s of locfusion's loop and of a study-style loop over an epoch of the same proteins.

    What differs between the loops is mostly how an epoch's batches pad: shuffled batches pad to the
    longest of 32 random draws, bucketed ones to the longest of 32 similar lengths, so each loop's
    rate is estimated on batches of its own epoch over the whole store (not on one small shared
    pool, where bucketing has little to sort): the study-style loop on `batches` shuffled batches (an
    epoch's first, each a uniform draw of 32), locfusion on `2 * batches` of its bucketed epoch's
    batches stratified by length. Same width, threads and store. Each loop first takes one untimed
    step on the 4 shortest proteins (one-time costs such as oneDNN primitive creation stay out),
    then every batch is timed (per-batch rates show the spread).
    """
    import pandas as pd
    import torch

    from locfusion.classes import CLASSES
    from locfusion.models import FUSION_DEFAULTS, build_model
    from locfusion.store import PackedEmbeddings
    from locfusion.training import ProteinSet

    torch.set_num_threads(threads)
    names = list(store["packed"])
    mapped = [PackedEmbeddings(*store["packed"][name]) for name in names]
    ids, lengths = store["ids"], np.asarray(store["lengths"])
    labels = {pid: i % len(CLASSES) for i, pid in enumerate(ids)}
    shortest = np.argsort(lengths)[:4]
    epoch = np.random.default_rng(1).permutation(len(ids))  # the study's shuffled epoch over the store
    study_rows = [int(i) for i in epoch[: 32 * batches]]
    files = {}
    for row in [*shortest.tolist(), *study_rows]:  # the study's layout: one fp32 tensor file per protein
        path = files[row] = root / f"{ids[row]}.pt"
        torch.save({n: torch.from_numpy(np.asarray(m[ids[row]], dtype=np.float32)) for n, m in zip(names, mapped)}, path)

    class PerProteinFiles(torch.utils.data.Dataset):
        def __init__(self, rows: Sequence[int]) -> None:
            self.rows = list(rows)

        def __len__(self) -> int:
            return len(self.rows)

        def __getitem__(self, i: int):  # type: ignore[no-untyped-def]
            row = self.rows[i]
            return torch.load(files[row]), labels[ids[row]]

    def pad(items):  # type: ignore[no-untyped-def]
        lengths = torch.tensor([item[0][names[0]].shape[0] for item in items])
        inputs = [torch.nn.utils.rnn.pad_sequence([item[0][n] for item in items], batch_first=True) for n in names]
        return inputs, lengths, torch.tensor([item[1] for item in items])

    def train(model, warm_up, loader) -> list[tuple[int, float]]:  # type: ignore[no-untyped-def]
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        timed = []
        for inputs, lengths, target in itertools.chain(warm_up, loader):
            started = time.perf_counter()
            loss = torch.nn.functional.cross_entropy(model(inputs, lengths), target)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            timed.append((int(lengths.sum()), time.perf_counter() - started))
        return timed[1:]  # the first is the warm-up step

    torch.manual_seed(0)
    study_model = build_model("fusion", [m.array.shape[1] for m in mapped])
    p = FUSION_DEFAULTS
    study_model.bilstm = packed_bilstm(p["hidden_dim"], p["lstm_hidden"], p["lstm_layers"], p["dropout"])
    # shuffle=True over the epoch's first rows: each batch stays a uniform draw of 32 from the store
    study_loader = torch.utils.data.DataLoader(PerProteinFiles(study_rows), batch_size=32, shuffle=True,
                                               collate_fn=pad, generator=torch.Generator().manual_seed(0))
    study_warm = torch.utils.data.DataLoader(PerProteinFiles(shortest.tolist()), batch_size=4, collate_fn=pad)
    study = train(study_model, study_warm, study_loader)

    table = pd.DataFrame({"id": ids, "label": [CLASSES[labels[pid]] for pid in ids], "group": "negative", "fold": 0})
    data = ProteinSet(table, mapped, names)
    torch.manual_seed(0)
    ours_model = build_model("fusion", data.dims)
    ours_batches = stratified_batches(lengths, 2 * batches)
    ours = train(ours_model, [data.batch(shortest)[:3]], ([*data.batch(idx)[:3]] for idx in ours_batches))
    torch.set_num_threads(1)
    return {"locfusion": ours, "study": study, "study_params": sum(x.numel() for x in study_model.parameters()),
            "params": sum(x.numel() for x in ours_model.parameters()), "proteins": len(ids)}


def residue_rate(steps: Sequence[tuple[int, float]]) -> float:
    """Residues/s over timed (residues, seconds) steps."""
    return sum(r for r, _ in steps) / sum(s for _, s in steps)


def serial_fraction(rate_1: float, rate_2: float) -> float:
    """Amdahl's serial fraction fitted to the rates at 1 and 2 threads: r1 / r2 = s + (1 - s) / 2."""
    return 2 * rate_1 / rate_2 - 1


def amdahl(rate_1: float, rate_2: float, threads: int) -> float:
    """The rate at `threads` from the rates at 1 and 2 threads, by Amdahl's law fitted to them
    (the serial fraction clipped to [0, 1]; below 0 is timing noise, read as perfect scaling):
    an extrapolation, said as such."""
    serial = min(max(serial_fraction(rate_1, rate_2), 0.0), 1.0)
    return rate_1 / (serial + (1 - serial) / threads)


def measured_precisions() -> tuple[str, ...]:
    """fp32, and bf16 where the CPU computes it natively (elsewhere torch emulates it, ~100x slower:
    a rate nobody would train at)."""
    from locfusion.device import cpu_has_native_bf16

    return ("fp32", "bf16") if cpu_has_native_bf16() else ("fp32",)


def stratified_batches(lengths: np.ndarray, n_batches: int, seed: int = 0) -> list[np.ndarray]:
    """`n_batches` of one epoch's bucketed batches of 32 over all `lengths` (indices), stratified by length.

    An epoch's batches sorted by their longest protein are cut into `n_batches` strata of equal
    count and one batch is drawn at random (seeded) from each, so a few batches cover the epoch's
    whole range of lengths, and the rate they give estimates the epoch's without the bias a fixed
    pick (say each stratum's middle) would have: a batch's cost grows faster than its residues (the
    attention's with the square of the length), so middles undercount each stratum's long end.
    """
    from locfusion.batching import make_batches

    rng = np.random.default_rng(seed)
    epoch = sorted(make_batches(lengths, 32, rng, bucketed=True), key=lambda idx: int(lengths[idx].max()))
    bounds = np.linspace(0, len(epoch), n_batches + 1).round().astype(int)
    return [epoch[int(rng.integers(lo, hi))] for lo, hi in zip(bounds[:-1], bounds[1:])]


def training_rates(lengths: np.ndarray, chosen: Sequence[np.ndarray],
                   peak_seconds: float) -> dict[tuple[str, str, int], dict[str, float]]:
    """Training residues/s, GFLOP/s and % of the matmul peak of both models at the study's input width.

    Through benchmarks/train.py's timed loop (forward + backward + AdamW step, padding included in the
    FLOPs, real residues in the rate) over `chosen` batches (`stratified_batches`) of the real proteins. Two peaks at
    the same precision and threads: the best of 3 single products (the CPU's burst rate), and the
    sustained rate of back-to-back products for `peak_seconds` right before and after the timed run
    (their mean: what the run had available; a shared virtual machine's clock moves by ~10 % between
    minutes, which a burst measured at another moment does not see).
    """
    import torch
    from perf import matmul_peak, sustained_matmul
    from train import counted_flops, make_features, train_steps

    from locfusion.models import build_model

    lengths = lengths[np.concatenate(chosen)]  # features for the chosen proteins only, re-indexed
    starts = np.cumsum([0] + [len(idx) for idx in chosen])
    batches = [np.arange(starts[k], starts[k + 1]) for k in range(len(chosen))]
    features = make_features(lengths, STUDY_DIMS)
    residues = float(lengths.sum())
    shortest = np.argsort(lengths)[:4]
    rates: dict[tuple[str, str, int], dict[str, float]] = {}
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        bursts = {p: matmul_peak(dtypes[p]) for p in measured_precisions()}
        for kind in ("fusion", "attention_pooling"):
            dims = list(STUDY_DIMS) if kind == "fusion" else [STUDY_DIMS[0]]  # config.yaml: attention pooling on ESM-2
            feats = features if kind == "fusion" else features[:1]
            for precision in measured_precisions():
                torch.manual_seed(0)
                model = build_model(kind, dims)
                model.train()
                train_steps(model, feats, lengths, [shortest], precision)  # warm-up
                before = sustained_matmul(dtypes[precision], peak_seconds, n=2048)
                seconds = train_steps(model, feats, lengths, batches, precision)
                after = sustained_matmul(dtypes[precision], peak_seconds, n=2048)
                flops = counted_flops(model, feats, lengths, batches, precision) if threads == 1 else float("nan")
                rates[(kind, precision, threads)] = {
                    "res_s": residues / seconds, "gflops": flops / seconds / 1e9, "peak": bursts[precision],
                    "sustained": (before + after) / 2, "params": sum(p.numel() for p in model.parameters())}
                print(f"  measured {kind} {precision} {threads} thread(s): {residues / seconds:.0f} residues/s "
                      f"({seconds:.0f} s; sustained matmul {before:.0f} before, {after:.0f} after)", flush=True)
    torch.set_num_threads(1)
    return rates


def embedding_rates(lengths: np.ndarray) -> dict[tuple[str, str, int], float]:
    """Residues/s of one ESM-2 650M layer (through the real `esm2` embedder: a random 2-layer
    checkpoint, halved) and of one ProstT5 encoder layer (transformers' T5 block at ProstT5's shape),
    per precision and threads; a whole model is its layer count times slower."""
    import torch
    from plm_fixtures import make_esm2_checkpoint
    from transformers import T5Config, T5EncoderModel

    from locfusion.embedders import RuntimeOptions, build_embedder

    rng = np.random.default_rng(2)
    records = [(f"E{i}", "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), int(n)))) for i, n in enumerate(lengths)]
    residues = float(lengths.sum())
    rates: dict[tuple[str, str, int], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = make_esm2_checkpoint(tmp, num_layers=2, embed_dim=1280, attention_heads=20,
                                          name="esm2_t2_random_UR50D", with_regression=False)
        # ProstT5 = T5-XL v1.1 shape: d_model 1024, 32 heads of 128, gated-GELU FFN 16384, 24 encoder layers.
        t5 = T5EncoderModel(T5Config(vocab_size=150, d_model=1024, d_kv=128, num_heads=32, d_ff=16384,
                                     num_layers=1, feed_forward_proj="gated-gelu")).eval()
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for precision in measured_precisions():
                runtime = RuntimeOptions(device="cpu", precision=precision, threads=threads)
                embedder = build_embedder("esm2_shape", {"kind": "esm2", "model": str(checkpoint)}, runtime)
                embedder.embed_batch([records[0][1][:50]])  # warm-up
                started = time.perf_counter()
                for record in records:
                    embedder.embed_batch([record[1]])
                rates[("esm2_layer", precision, threads)] = 2 * residues / (time.perf_counter() - started)
                dtype = torch.bfloat16 if precision == "bf16" else torch.float32
                model = t5.to(dtype)
                with torch.inference_mode():
                    model(input_ids=torch.zeros(1, 50, dtype=torch.long))
                    started = time.perf_counter()
                    for n in lengths:
                        model(input_ids=torch.randint(0, 150, (1, int(n))))
                rates[("prostt5_layer", precision, threads)] = residues / (time.perf_counter() - started)
    torch.set_num_threads(1)
    return rates


def study_projection(train: dict[tuple[str, str, int], dict[str, float]], embed: dict[tuple[str, str, int], float],
                     mean_length: float) -> None:
    """Print the whole study's projected wall time on 45 cores at each precision."""
    config_threads = STUDY_THREADS  # also config.yaml's embed.threads and training.threads (5 x 9 under --cores 45)
    residues = STUDY_PROTEINS * mean_length
    train_res, val_res = residues * 3 / 5, residues / 5  # per fold and epoch; validation is forward only (~1/3)
    print(f"\nprojection: the study on {STUDY_CORES} cores ({STUDY_PROTEINS:,} proteins x {mean_length:.0f} residues; "
          f"Amdahl fit of 1 -> 2 threads, extrapolated to {config_threads})")
    for precision in measured_precisions():
        at9 = {kind: amdahl(train[(kind, precision, 1)]["res_s"], train[(kind, precision, 2)]["res_s"], config_threads)
               for kind in ("fusion", "attention_pooling")}
        for kind in at9:
            if serial_fraction(train[(kind, precision, 1)]["res_s"], train[(kind, precision, 2)]["res_s"]) < 0:
                print(f"  ({kind} {precision}: faster than linear from 1 to 2 threads, timing noise; taken as linear)")
        epoch = {kind: (train_res + val_res / 3) / rate for kind, rate in at9.items()}
        jobs = STUDY_CORES // config_threads  # 5 folds at once: one experiment's folds per wave
        embed_s = 0.0
        for layer, n_layers in (("esm2_layer", 33), ("prostt5_layer", 24)):
            per_job = amdahl(embed[(layer, precision, 1)], embed[(layer, precision, 2)], config_threads) / n_layers
            embed_s += residues / (per_job * jobs)
        line = [f"  {precision}: embedding both pLMs {embed_s / 3600:.1f} h"]
        for epochs in STUDY_EPOCHS:
            total = embed_s + epochs * (epoch["fusion"] + epoch["attention_pooling"]) * 5 / jobs
            line.append(f"{epochs} epochs: {total / 3600:.1f} h ({STUDY_DAYS * 24 * 3600 / total:.0f}x faster than "
                        f"the study's {STUDY_DAYS} days)")
        print("; ".join(line) + f"; epoch per fold at 9 threads: fusion {epoch['fusion'] / 60:.1f} min, "
              f"attention pooling {epoch['attention_pooling'] / 60:.1f} min (study: 5 h 20 min per fusion epoch)")


def throughput(args: argparse.Namespace) -> None:
    """Print training and embedding rates per thread, against the matmul peak, and the projection."""
    lengths_all = deeplocpro_lengths()
    rng = np.random.default_rng(0)
    if measured_precisions() == ("fp32",):
        print("this CPU has no native bf16 (no avx512_bf16 / amx_bf16): bf16 is emulated, not measured")
    chosen = stratified_batches(lengths_all, args.throughput_batches)
    train = training_rates(lengths_all, chosen, args.peak_seconds)
    longest = [int(lengths_all[idx].max()) for idx in chosen]
    print(f"\ntraining throughput at the study's width (inputs {STUDY_DIMS}; fusion "
          f"{train[('fusion', 'fp32', 1)]['params']:,} parameters, attention pooling on ESM-2 "
          f"{train[('attention_pooling', 'fp32', 1)]['params']:,}), {args.throughput_batches} bucketed batches of 32 "
          f"stratified over an epoch of the {len(lengths_all):,} real proteins (longest protein per batch: "
          f"{', '.join(map(str, longest))})")
    print("peaks (GFLOP/s, same precision and threads): burst = best of 3 single 2048^3 products before the runs; "
          "sustained = back-to-back products right before and after each timed run (mean)")
    header = (f"{'model':<19}{'precision':<10}{'res/s/thread':>13}{'GFLOP/s':>9}{'burst':>7}{'% burst':>9}"
              f"{'sustained':>11}{'% sust.':>9}{'2 threads':>11}{'scaling':>9}")
    print(header)
    print("-" * len(header))
    for (kind, precision, threads), r in train.items():
        if threads == 1:
            two = train[(kind, precision, 2)]["res_s"]
            print(f"{kind:<19}{precision:<10}{r['res_s']:>13.0f}{r['gflops']:>9.1f}{r['peak']:>7.0f}"
                  f"{r['gflops'] / r['peak']:>9.1%}{r['sustained']:>11.0f}{r['gflops'] / r['sustained']:>9.1%}"
                  f"{two:>11.0f}{two / r['res_s']:>8.2f}x")
    embed = embedding_rates(rng.choice(lengths_all, size=args.embed_proteins, replace=False))
    print(f"\nembedding one layer, {args.embed_proteins} proteins one at a time (residues/s; a model is layers x slower)")
    for layer in ("esm2_layer", "prostt5_layer"):
        print("  " + layer + ": " + ", ".join(f"{p} {t} thread{'s' if t > 1 else ''} {embed[(layer, p, t)]:.0f}"
                                              for p in measured_precisions() for t in (1, 2)))
    study_projection(train, embed, STUDY_MEAN_LENGTH)


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
    parser.add_argument("--steps", type=int, default=1,
                        help="training steps of the full-width model per job (the epoch's longest batch first)")
    parser.add_argument("--dir", default=None, help="where to write the synthetic store (default: a temporary folder)")
    parser.add_argument("--study-batches", type=int, default=2,
                        help="timed batches of 32 of the study-style loop (locfusion's: twice as many)")
    parser.add_argument("--study-threads", type=int, default=2, help="torch threads of both loops in the comparison")
    parser.add_argument("--only-study-style", action="store_true", help="only the store and the loop comparison")
    parser.add_argument("--only-throughput", action="store_true", help="only the rates and the 45-core projection")
    parser.add_argument("--throughput-batches", type=int, default=4,
                        help="batches of 32 per training-rate measurement, stratified over an epoch by length")
    parser.add_argument("--peak-seconds", type=float, default=5.0,
                        help="seconds of sustained matrix products before and after each timed training run")
    parser.add_argument("--embed-proteins", type=int, default=6, help="proteins per embedding-rate measurement")
    args = parser.parse_args(argv)
    if args.only_throughput:
        throughput(args)
        return 0
    n = round(STUDY_PROTEINS * args.scale)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        started = time.perf_counter()
        store = build_store(Path(tmp), n)
        build_seconds = time.perf_counter() - started
        (Path(tmp) / "per_protein").mkdir()
        loops = study_style_comparison(store, args.study_batches, Path(tmp) / "per_protein", args.study_threads)
        ours, study = residue_rate(loops["locfusion"]), residue_rate(loops["study"])
        per_batch = {k: ", ".join(f"{r / t:.0f}" for r, t in loops[k]) for k in ("locfusion", "study")}
        print(f"training loops over an epoch of the store's {loops['proteins']:,} proteins, full-width fusion, fp32, "
              f"{args.study_threads} thread(s), after one untimed step each:\n  locfusion (bucketed batches from "
              f"mapped float16, {loops['params']:,} parameters; {len(loops['locfusion'])} batches stratified by "
              f"length) {ours:.0f} residues/s (per batch: {per_batch['locfusion']})\n  study-style (per-protein fp32 .pt "
              f"files, DataLoader, shuffled batches, packed BiLSTM, {loops['study_params']:,} parameters; "
              f"{len(loops['study'])} batches) {study:.0f} residues/s (per batch: {per_batch['study']})\n"
              f"  ratio {ours / study:.2f}x (target >= 10x)", flush=True)
        if args.only_study_style:
            return 0
        size = sum(Path(p).stat().st_size for p, _ in store["packed"].values()) / 2**30
        print(f"synthetic store: {n} proteins ({args.scale:g} of the study), mean length "
              f"{np.mean(store['lengths']):.0f}, inputs {STUDY_DIMS}, {size:.2f} GB float16 "
              f"(built in {build_seconds:.0f} s)")
        results = {loader: run_jobs(store, loader, 2, args.steps) for loader in ("preloaded", "mapped")}
        print(f"fusion model: {results['preloaded'][0]['n_params']:,} parameters; two jobs side by side per loader, "
              f"1 thread each, fp32; each reads every batch of an epoch once, then trains {args.steps} batch(es) of 32 "
              "(the epoch's longest first)\n")
        header = (f"{'loader':<11}{'peak RSS (larger)':>18}{'2nd adds (its USS)':>20}{'/ 1st RSS':>11}"
                  f"{'load s':>8}{'read pass s':>13}{'train res/s':>13}")
        print(header)
        print("-" * len(header))
        summary = {}
        for loader, pair in results.items():
            first = max(r["peak_rss_gb"] for r in pair)
            adds = min(r["uss_gb"] for r in pair)  # what the other job does not also hold
            read = float(np.mean([r["read_s"] for r in pair]))
            train = float(np.mean([r["train_s"] for r in pair]))
            summary[loader] = {"first": first, "adds": adds, "epoch": read + train}
            print(f"{loader:<11}{first:>16.2f}GB{adds:>18.2f}GB{adds / first:>11.1%}"
                  f"{np.mean([r['load_s'] for r in pair]):>8.1f}{read:>13.1f}{pair[0]['residues'] / train:>13.0f}")
        ratio = summary["mapped"]["epoch"] / summary["preloaded"]["epoch"]
        print(f"\nmapped / preloaded time (read pass + {args.steps} step(s), mean of the two jobs): {ratio:.2f}x "
              "(target <= 1.10; an epoch trains every batch, so its share of reading is smaller)")
        adds = summary["mapped"]["adds"]
        full = size / args.scale * STUDY_MEAN_LENGTH / np.mean(store["lengths"])  # the study's store
        own = summary["mapped"]["first"] - size  # a job's RSS beyond the mapped embeddings
        print(f"what a 2nd mapped job adds is its own working set ({adds:.2f} GB: the batch's activations, the "
              f"model, the optimizer, torch), which does not grow with the data, not the {size:.2f} GB of embeddings "
              f"it shares. At the study's full size ({full:.1f} GB of embeddings, mean length {STUDY_MEAN_LENGTH}) "
              f"that is ~{adds / (full + own):.0%} of the first job's RSS: a projection, since two full-size jobs "
              "do not fit this machine's memory")
        print(json.dumps(results, default=float))
    throughput(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
