"""Workflow stages as functions of file paths, called by the thin Snakemake scripts.

Each function reads its inputs, calls the library module that holds the logic,
and writes its outputs atomically; the same functions back the command line.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .dataset import FilterSettings, assign_folds, filter_proteins, proteins_frame, read_dataset, reason_counts
from .device import resolve_device, resolve_precision
from .errors import InputError
from .fasta import read_labelled_fasta
from .io import write_json, write_tsv

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
    import torch

    from .embedders import RuntimeOptions, build_embedder
    from .store import embed_to_shard

    torch.set_num_threads(threads)
    device = resolve_device(embed_settings["device"])
    runtime = RuntimeOptions(device=device, precision=resolve_precision(embed_settings["precision"], device), threads=threads)
    data = read_dataset(dataset)
    plan = pd.read_csv(shards, sep="\t", dtype={"id": str})
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


def data_fingerprint(data: pd.DataFrame, shard_paths: Mapping[str, Sequence[str]]) -> str:
    """Identity of the training data: the dataset rows plus the embedders' provenance."""
    from .training import fingerprint

    return fingerprint(data[["id", "label", "group", "fold", "sequence"]].to_dict("list"), sorted(shard_paths))


def train_experiment_fold(name: str, experiment: Mapping[str, Any], training: Mapping[str, Any], dataset: str,
                          shards: Mapping[str, Sequence[str]], test_fold: int, n_folds: int, checkpoint: str,
                          out: Mapping[str, str], threads: int) -> None:
    from .store import load_embeddings
    from .training import (ExperimentSpec, ProteinSet, TrainingSettings, fold_split, model_manifest,
                           predict_proba, predictions_frame, save_fold_outputs, train_fold)

    spec = ExperimentSpec.from_config(name, experiment)
    settings = TrainingSettings.from_config(training)
    data = read_dataset(dataset)
    train_folds, val_fold = fold_split(test_fold, n_folds)
    embeddings = [load_embeddings(shards[e]) for e in spec.embedders]
    subsets = {
        "train": data[data["fold"].isin(train_folds)],
        "val": data[data["fold"] == val_fold],
        "test": data[data["fold"] == test_fold],
    }
    for part, table in subsets.items():
        if table.empty:
            raise InputError(f"experiment '{name}' fold {test_fold}: the {part} set is empty (folds {sorted(set(data['fold']))})")
    sets = {part: ProteinSet(table, embeddings, spec.embedders) for part, table in subsets.items()}
    log.info("experiment %s, test fold %d, validation fold %d, training folds %s: %d/%d/%d proteins, %d threads",
             name, test_fold, val_fold, train_folds, len(sets["train"]), len(sets["val"]), len(sets["test"]), threads)
    model, history, result = train_fold(spec, settings, sets["train"], sets["val"], checkpoint, threads=threads,
                                        data_fingerprint=data_fingerprint(data, shards))
    precision = resolve_precision(settings.precision, "cpu")
    proba = predict_proba(model, sets["test"], settings.batch_size, precision, spec.use_group)
    manifest = model_manifest(spec, sets["train"].dims, result, test_fold, n_folds, settings)
    save_fold_outputs(out, model, manifest, history, predictions_frame(sets["test"], proba))
    log.info("best epoch %d (validation MCC %.4f) after %d epochs", result.best_epoch, result.best_val_mcc, result.epochs_run)


def _predictions(path: str, group_remap: bool) -> pd.DataFrame:
    from .metrics import apply_group_remap

    frame = pd.read_csv(path, sep="\t", dtype={"id": str})
    return apply_group_remap(frame, frame["group"]) if group_remap else frame


def evaluate_fold(predictions: str, out: str, group_remap: bool = False) -> dict[str, Any]:
    from .metrics import evaluate_fold as fold_metrics

    metrics = fold_metrics(_predictions(predictions, group_remap))
    write_json(metrics, out)
    return metrics


def evaluate_experiment(name: str, predictions: Sequence[str], metrics: Sequence[str], summary_out: str, table_out: str,
                        group_remap: bool = False) -> dict[str, Any]:
    from .metrics import summarize_experiment, summary_table

    frames = [_predictions(p, group_remap) for p in predictions]
    fold_metrics = {}
    for frame, path in zip(frames, metrics):
        fold = int(frame["fold"].iloc[0])
        fold_metrics[fold] = json.loads(Path(path).read_text())
    summary = summarize_experiment(fold_metrics, pd.concat(frames, ignore_index=True))
    summary["experiment"] = name
    summary["group_remap"] = group_remap
    write_json(summary, summary_out)
    write_tsv(summary_table({name: summary}), table_out)
    return summary


def compare_experiments(predictions: Mapping[str, Sequence[str]], experiments: Mapping[str, Mapping[str, Any]],
                        dataset: str, deeplocpro_dir: str | None, n_folds: int, n_boot: int,
                        out: Mapping[str, str]) -> pd.DataFrame:
    """All experiments (and DeepLocPro's held-out predictions, when given) on identical proteins."""
    from .comparison import DEEPLOCPRO, claim_html, compare
    from .deeplocpro import deeplocpro_test_predictions
    from .io import atomic_path

    pooled = {
        name: pd.concat([pd.read_csv(p, sep="\t", dtype={"id": str}) for p in paths], ignore_index=True)
        for name, paths in predictions.items()
    }
    if deeplocpro_dir:
        tested = pd.concat(pooled.values())["id"].unique()
        data = read_dataset(dataset)
        pooled[DEEPLOCPRO] = deeplocpro_test_predictions(deeplocpro_dir, data[data["id"].isin(tested)], n_folds=n_folds)
    summaries, metrics, bootstrap = compare(pooled, experiments, n_boot=n_boot)
    write_json(summaries, out["summaries"])
    write_tsv(metrics, out["table"])
    write_tsv(bootstrap, out["bootstrap"])
    with atomic_path(out["claim"]) as tmp:
        tmp.write_text(claim_html(metrics, bootstrap, n_proteins=len(next(iter(pooled.values())))))
    log.info("compared %s", ", ".join(pooled))
    return metrics
