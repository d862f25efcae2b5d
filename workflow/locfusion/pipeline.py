"""Workflow stages as functions of file paths, called by the thin Snakemake scripts.

Each function reads its inputs, calls the library module that holds the logic,
and writes its outputs atomically. (The command line, `locfusion.cli`, calls the
library modules directly: prediction, bundle inspection, the leakage table.)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .dataset import FilterSettings, assign_folds, filter_proteins, proteins_frame, read_dataset, reason_counts
from .errors import InputError
from .fasta import read_labelled_fasta
from .io import read_id_tsv, write_json, write_tsv

log = logging.getLogger(__name__)


def normalize(fasta: str, out: str, n_folds: int = 5) -> pd.DataFrame:
    proteins = proteins_frame(read_labelled_fasta(fasta, n_folds=n_folds))
    write_tsv(proteins, out)
    log.info("%d proteins normalized from %s", len(proteins), fasta)
    return proteins


def filter_dataset(proteins_tsv: str, dataset_out: str, excluded_out: str, summary_out: str, settings: Mapping[str, Any],
                   folds: str = "header", n_folds: int = 5, fold_seed: int = 0) -> dict[str, Any]:
    """Filter, then assign the folds every later stage reads (`data.folds`: header or stratified)."""
    proteins = read_dataset(proteins_tsv)
    kept, excluded = filter_proteins(proteins, FilterSettings(**settings))
    kept = assign_folds(kept, folds, n_folds, fold_seed)
    write_tsv(kept, dataset_out)
    write_tsv(excluded, excluded_out)
    summary = {
        "input": len(proteins),
        "kept": len(kept),
        "excluded": len(excluded),
        "excluded_by_reason": reason_counts(excluded),
        "cropped": int(kept["cropped"].sum()),
        "kept_by_class": {k: int(v) for k, v in kept["label"].value_counts().sort_index().items()},
        "kept_by_fold": {str(k): int(v) for k, v in kept["fold"].value_counts().sort_index().items()},
        "kept_by_header_fold": {str(k): int(v) for k, v in kept["header_fold"].value_counts().sort_index().items()},
        "folds": {"scheme": folds, "n_folds": n_folds, "seed": fold_seed},
        "settings": dict(settings),
    }
    write_json(summary, summary_out)
    log.info("kept %d of %d proteins; excluded %s", len(kept), len(proteins), summary["excluded_by_reason"])
    return summary


def plan_embedding_shards(dataset_tsv: str, out: str, n_shards: int) -> None:
    from .store import plan_shards

    data = read_dataset(dataset_tsv)
    shards = plan_shards(data["id"].tolist(), data["length"].tolist(), n_shards)
    write_tsv(pd.DataFrame({"id": data["id"], "length": data["length"], "shard": shards}), out)


def expected_lengths(data: pd.DataFrame, filter_settings: Mapping[str, Any]) -> dict[str, int]:
    """Residues each protein's embedding must have: long ones are cropped to max_length."""
    max_length = filter_settings["max_length"]
    return {pid: min(int(n), max_length) for pid, n in zip(data["id"], data["length"])}


def embed_shard(dataset: str, shards: str, shard: int, embedder_name: str, spec: Mapping[str, Any],
                embed_settings: Mapping[str, Any], filter_settings: Mapping[str, Any], out: str, threads: int) -> None:
    from .embed_job import interpreter_for, run_elsewhere

    # A kind whose package this interpreter cannot import (esmc beside fair-esm) runs in its own.
    python = interpreter_for(str(spec.get("kind")), embed_settings)
    if python is not None:
        run_elsewhere(python, {"dataset": dataset, "shards": shards, "shard": shard, "embedder_name": embedder_name,
                               "spec": dict(spec), "embed_settings": dict(embed_settings),
                               "filter_settings": dict(filter_settings), "out": out, "threads": threads})
        return
    import torch

    from .device import resolve_device, resolve_precision  # torch: only the embed rule's env has it
    from .embedders import RuntimeOptions, build_embedder
    from .store import embed_to_shard

    torch.set_num_threads(threads)
    device = resolve_device(embed_settings["device"])
    runtime = RuntimeOptions(device=device, precision=resolve_precision(embed_settings["precision"], device), threads=threads)
    data = read_dataset(dataset)
    plan = read_id_tsv(shards)
    ids = set(plan.loc[plan["shard"] == shard, "id"])
    records = [(pid, seq) for pid, seq in zip(data["id"], data["sequence"]) if pid in ids]
    embedder = build_embedder(embedder_name, dict(spec), runtime)
    # Per embedder, because the best batch differs by model and device: ESM-2 on CPU peaks near
    # 2,048 padded residues (bigger batches only add attention cost), UniRep's recurrence wants 32,768.
    tokens_per_batch = int(spec.get("tokens_per_batch", embed_settings["tokens_per_batch"]))
    max_length = filter_settings["max_length"]
    if embedder.max_residues is not None and embedder.max_residues < max_length and any(len(s) > embedder.max_residues for _, s in records):
        raise InputError(
            f"embedder '{embedder_name}' accepts at most {embedder.max_residues} residues but filter.max_length is "
            f"{max_length}: set filter.max_length <= {embedder.max_residues} so all fused embedders crop alike"
        )
    log.info("shard %d: %d proteins, %d residues, embedder %s on %s (%s, %d threads, %d tokens per batch)", shard,
             len(records), sum(len(s) for _, s in records), embedder_name, runtime.device, runtime.precision, threads,
             tokens_per_batch)
    embed_to_shard(embedder, records, out, tokens_per_batch=tokens_per_batch, max_length=max_length,
                   long_policy=filter_settings["long_policy"], extra_attrs={"shard": shard})


def check_embeddings(dataset: str, h5_paths: Sequence[str], filter_settings: Mapping[str, Any], out: str) -> dict[str, Any]:
    from .store import check_complete

    data = read_dataset(dataset)
    summary = check_complete(h5_paths, expected_lengths(data, filter_settings))
    write_json(summary, out)
    log.info("embeddings complete: %s", summary)
    return summary


def export_side_fasta(dataset: str, h5_paths: Sequence[str], side: str, out: str) -> int:
    """One side text of every dataset protein (e.g. prostt5_3di's `3di`) as FASTA, in dataset order."""
    from .store import export_side_fasta as export

    n = export(h5_paths, side, out, ids=read_dataset(dataset)["id"])
    log.info("wrote %d '%s' records to %s", n, side, out)
    return n


def pack_embeddings(h5_paths: Sequence[str], array_out: str, index_out: str) -> dict[str, int]:
    from .store import pack_embeddings as pack

    summary = pack(h5_paths, array_out, index_out)
    log.info("packed %s into %s", summary, array_out)
    return summary


def data_fingerprint(data: pd.DataFrame, shard_paths: Mapping[str, Sequence[str]]) -> str:
    """Identity of the training data: the dataset rows plus the embedders' provenance."""
    from .training import fingerprint

    return fingerprint(data[["id", "label", "group", "fold", "sequence"]].to_dict("list"), sorted(shard_paths))


def open_packed(paths: Sequence[str]) -> Any:
    """Packed embeddings from (array, index) pairs: the dataset's, then the extra proteins' when given."""
    from .store import PackedEmbeddings

    if len(paths) % 2 or not paths:
        raise InputError(f"packed embeddings: expected (array, index) pairs, got {list(paths)}")
    stores = [PackedEmbeddings(paths[i], paths[i + 1]) for i in range(0, len(paths), 2)]
    return stores[0] if len(stores) == 1 else ChainedEmbeddings(stores)


class ChainedEmbeddings(Mapping[str, Any]):
    """Several packed embedding sets read as one (dataset + extra proteins; their IDs never overlap)."""

    def __init__(self, stores: Sequence[Any]) -> None:
        self.stores = list(stores)

    def _store(self, protein_id: str) -> Any:
        for store in self.stores:
            if protein_id in store:
                return store
        raise KeyError(protein_id)

    def __getitem__(self, protein_id: str) -> Any:
        return self._store(protein_id)[protein_id]

    def __contains__(self, protein_id: object) -> bool:
        return any(protein_id in store for store in self.stores)

    def __iter__(self) -> Any:
        return (pid for store in self.stores for pid in store)

    def __len__(self) -> int:
        return sum(len(store) for store in self.stores)

    def verify(self, ids: Sequence[str]) -> None:
        for pid in ids:
            self._store(pid).verify([pid])


def train_experiment_fold(name: str, experiment: Mapping[str, Any], training: Mapping[str, Any],
                          dataset: str | Sequence[str], shards: Mapping[str, Sequence[str]], test_fold: int,
                          n_folds: int, checkpoint: str, out: Mapping[str, str], threads: int,
                          val_fold: int | None = None, grid: int = 0,
                          packed: Mapping[str, Sequence[str]] | None = None) -> None:
    """Train one model. Embeddings are memory-mapped from `packed` (array, index) per embedder when
    given (the workflow: parallel jobs share one page-cache copy), else preloaded from the shards.

    `dataset`: dataset.tsv, or [dataset.tsv, the split's admitted extra proteins] for an experiment
    with `extra_training_size` (locfusion.extra); then `packed` holds two (array, index) pairs per
    embedder, the dataset's and the extra proteins'. Extra proteins only join the training set.
    """
    from .device import resolve_training_precision
    from .store import load_embeddings
    from .training import (ExperimentSpec, ProteinSet, TrainingSettings, fold_split, model_manifest,
                           predict_proba, predictions_frame, save_fold_outputs, train_fold)

    spec = ExperimentSpec.from_config(name, experiment)
    settings = TrainingSettings.from_config(training)
    paths = [dataset] if isinstance(dataset, str) else list(dataset)
    data = read_dataset(paths[0])
    train_folds, val_fold = fold_split(test_fold, n_folds, val_fold)
    extra = None
    if len(paths) > 1:
        from .extra import training_extras

        extra = training_extras(paths[1], experiment, settings.seed, test_fold, val_fold, spec.use_group)
    embeddings = [open_packed(list(packed[e])) if packed else load_embeddings(shards[e]) for e in spec.embedders]
    subsets = {
        "train": data[data["fold"].isin(train_folds)],
        "val": data[data["fold"] == val_fold],
        "test": data[data["fold"] == test_fold],
    }
    for part, table in subsets.items():
        if table.empty:
            raise InputError(f"experiment '{name}' fold {test_fold}: the {part} set is empty (folds {sorted(set(data['fold']))})")
    if extra is not None:
        subsets["train"] = pd.concat([subsets["train"], extra[list(subsets["train"].columns.intersection(extra.columns))]],
                                     ignore_index=True)
    for store in embeddings:
        if hasattr(store, "verify"):
            store.verify([*data["id"][data["fold"].isin([*train_folds, val_fold, test_fold])],
                          *(extra["id"] if extra is not None else [])])
    sets = {part: ProteinSet(table, embeddings, spec.embedders) for part, table in subsets.items()}
    log.info("experiment %s, seed %d, grid point %d, test fold %d, validation fold %d, training folds %s: "
             "%d/%d/%d proteins, %d threads", name, settings.seed, grid, test_fold, val_fold, train_folds,
             len(sets["train"]), len(sets["val"]), len(sets["test"]), threads)
    fingerprint = f"{data_fingerprint(data, shards)}:test{test_fold}:val{val_fold}"
    if extra is not None:
        fingerprint += f":extra{data_fingerprint(extra, {})}"
    model, history, result = train_fold(spec, settings, sets["train"], sets["val"], checkpoint, threads=threads,
                                        data_fingerprint=fingerprint)
    device = next(model.parameters()).device  # where it trained (training.device)
    precision = resolve_training_precision(settings.precision, str(device))
    proba = predict_proba(model, sets["test"], settings.batch_size, precision, spec.use_group, device)
    manifest = model_manifest(spec, sets["train"].dims, result, test_fold, n_folds, settings, val_fold, grid)
    if extra is not None:
        from .extra import training_size

        manifest["extra_training"] = {"size": training_size(experiment), "used": len(extra),
                                      "admitted": paths[1], "fingerprint": data_fingerprint(extra, {})}
    save_fold_outputs(out, model, manifest, history, predictions_frame(sets["test"], proba))
    log.info("best epoch %d (validation MCC %.4f) after %d epochs", result.best_epoch, result.best_val_mcc, result.epochs_run)


def select_models(manifests: Sequence[str], predictions: Sequence[str], grid: Mapping[str, Sequence[Any]],
                  out: Mapping[str, str]) -> dict[str, Any]:
    """One (experiment, seed, test fold): choose the grid point on validation MCC, ensemble its models."""
    from .cv import select_and_ensemble

    frame, selection = select_and_ensemble(manifests, predictions, grid)
    write_tsv(frame, out["predictions"], float_format="%.6g")
    write_json(selection, out["selection"])
    log.info("test fold %d, seed %d: grid point %d chosen (%s); mean of %d model(s)", selection["test_fold"],
             selection["seed"], selection["chosen_grid"], selection["chosen_settings"] or "no grid",
             len(selection["ensembled"]))
    return selection


def seed_of(path: str | Path) -> int:
    """The seed of a per-fold output, from its directory `.../seed_{seed}/fold_{k}/<file>`."""
    name = Path(path).parent.parent.name
    if not name.startswith("seed_"):
        raise InputError(f"{path}: not under a seed_<n>/fold_<k>/ directory")
    return int(name.removeprefix("seed_"))


def _predictions(path: str, group_remap: bool) -> pd.DataFrame:
    from .metrics import apply_group_remap

    frame = read_id_tsv(path)
    return apply_group_remap(frame, frame["group"]) if group_remap else frame


def evaluate_fold(predictions: str, out: str, group_remap: bool = False) -> dict[str, Any]:
    from .metrics import evaluate_fold as fold_metrics

    metrics = fold_metrics(_predictions(predictions, group_remap))
    write_json(metrics, out)
    return metrics


def evaluate_experiment(name: str, predictions: Sequence[str], metrics: Sequence[str], summary_out: str, table_out: str,
                        group_remap: bool = False) -> dict[str, Any]:
    from .metrics import summarize_experiment, summarize_seeds, summary_table

    by_seed: dict[int, tuple[list[pd.DataFrame], dict[int, Any]]] = {}
    for pred_path, metrics_path in zip(predictions, metrics, strict=True):
        frame = _predictions(pred_path, group_remap)
        frames, fold_metrics = by_seed.setdefault(seed_of(pred_path), ([], {}))
        frames.append(frame)
        fold_metrics[int(frame["fold"].iloc[0])] = json.loads(Path(metrics_path).read_text())
    summary = summarize_seeds({
        seed: summarize_experiment(fold_metrics, pd.concat(frames, ignore_index=True))
        for seed, (frames, fold_metrics) in by_seed.items()
    })
    summary["experiment"] = name
    summary["group_remap"] = group_remap
    write_json(summary, summary_out)
    write_tsv(summary_table({name: summary}), table_out)
    return summary


def compare_experiments(predictions: Mapping[str, Sequence[str]], comparisons: Sequence[Mapping[str, str]],
                        dataset: str, deeplocpro_dir: str | None, n_folds: int, n_boot: int,
                        out: Mapping[str, str], psortb: str | None = None,
                        psortb_unknown: str | None = None) -> pd.DataFrame:
    """All experiments (and DeepLocPro's and PSORTb's predictions, when given) on identical proteins.

    `predictions` maps experiment -> its per-fold test predictions of every seed
    (`.../seed_{s}/fold_{k}/test_predictions.tsv`). Peers enter as one "seed".
    """
    from .comparison import DEEPLOCPRO, PSORTB, claim_html, compare, per_class_table, per_group_table
    from .deeplocpro import deeplocpro_test_predictions
    from .io import atomic_path

    pooled: dict[str, dict[int, pd.DataFrame]] = {}
    for name, paths in predictions.items():
        by_seed: dict[int, list[pd.DataFrame]] = {}
        for path in paths:
            by_seed.setdefault(seed_of(path), []).append(read_id_tsv(path))
        pooled[name] = {seed: pd.concat(frames, ignore_index=True) for seed, frames in sorted(by_seed.items())}
    # Every seed of every experiment is tested on the same folds, hence proteins: peers are scored on these.
    reference = next(iter(next(iter(pooled.values())).values()))
    tested = reference["id"].to_numpy()
    if deeplocpro_dir:
        data = read_dataset(dataset)
        pooled[DEEPLOCPRO] = {0: deeplocpro_test_predictions(deeplocpro_dir, data[data["id"].isin(tested)],
                                                             n_folds=n_folds)}
    unknown = None
    if psortb:
        from .psortb import comparison_frame, read_predictions

        pooled[PSORTB] = {0: comparison_frame(read_predictions(psortb), tested, psortb)}
        unknown = pd.read_csv(psortb_unknown, sep="\t", dtype={"fold": str}) if psortb_unknown else None
    summaries, metrics, bootstrap = compare(pooled, comparisons, n_boot=n_boot)
    write_json(summaries, out["summaries"])
    write_tsv(metrics, out["table"])
    write_tsv(bootstrap, out["bootstrap"])
    write_tsv(per_group_table(summaries), out["per_group"])
    write_tsv(per_class_table(summaries), out["per_class"])
    with atomic_path(out["claim"]) as tmp:
        tmp.write_text(claim_html(metrics, bootstrap, n_proteins=len(reference), psortb_unknown=unknown))
    log.info("compared %s", ", ".join(pooled))
    return metrics
