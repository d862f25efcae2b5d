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


def calibrate_models(models: Sequence[Mapping[str, str]], dataset: str, out: Mapping[str, str],
                     settings: Mapping[int, Mapping[str, Any]], threads: int = 1,
                     packed: Mapping[str, tuple[str, str]] | None = None,
                     shards: Mapping[str, Sequence[str]] | None = None) -> list[dict[str, Any]]:
    """Fit each trained model's temperature on its own validation fold; write all of them and their
    calibrated test predictions (`out`: calibration, predictions; locfusion.calibration_files).

    `models`: per model its `weights`, `manifest` (model.json) and `predictions` (the training
    job's test_predictions.tsv), all of one experiment and seed; `settings`: per grid point the
    training settings its models ran with (`device`, `batch_size`). Embeddings: memory-mapped
    from `packed` (array, index) per embedder, else loaded from `shards`.

    Why many models in one call: the dataset and the embeddings are read once, and one process
    (one torch start) serves every model of the seed. Each model sees only its own validation
    fold for the fit (`model_temperature`), so the result per model is what calibrating it alone gives.
    """
    import torch

    from .calibration_files import calibrated_table, calibration_document, model_key
    from .store import PackedEmbeddings, load_embeddings

    if not models:
        raise InputError("no trained models to calibrate")
    torch.set_num_threads(threads)
    infos = []
    for files in models:
        info = json.loads(Path(files["manifest"]).read_text())
        for key in ("experiment", "embedders", "test_fold", "val_fold", "seed", "grid", "use_group"):
            if key not in info:
                raise InputError(f"{files['manifest']}: model manifest lacks {key!r}")
        infos.append(info)
    experiment, seed = model_key(infos[0])[:2]
    for files, info in zip(models, infos, strict=True):
        if model_key(info)[:2] != (experiment, seed):
            raise InputError(f"{files['manifest']}: a model of experiment '{info['experiment']}' seed {info['seed']} "
                             f"among those of experiment '{experiment}' seed {seed}")
    if not packed and not shards:
        raise InputError(f"{models[0]['manifest']}: no embeddings given (packed arrays or shards) to calibrate on")
    data = read_dataset(dataset)
    names = list(dict.fromkeys(name for info in infos for name in info["embedders"]))
    missing = [name for name in names if name not in (packed or shards or {})]
    if missing:
        raise InputError(f"experiment '{experiment}': no embeddings given for {', '.join(missing)}")
    embeddings = {name: PackedEmbeddings(*packed[name]) if packed else load_embeddings((shards or {})[name])
                  for name in names}
    folds = {int(info[k]) for info in infos for k in ("val_fold", "test_fold")}
    for store in embeddings.values():  # once for every protein any of the models reads
        if isinstance(store, PackedEmbeddings):
            store.verify(data["id"][data["fold"].isin(folds)])
    records, frames = [], []
    for files, info in zip(models, infos, strict=True):
        grid = int(info["grid"])
        if grid not in settings:
            raise InputError(f"{files['manifest']}: grid point {grid}, but settings are given for {sorted(settings)}")
        record, frame = model_temperature(files, info, data, dataset, embeddings, str(settings[grid]["device"]),
                                          int(settings[grid]["batch_size"]))
        records.append(record)
        frames.append(frame)
    write_json(calibration_document(experiment, seed, records), out["calibration"])
    write_tsv(calibrated_table(records, frames), out["predictions"], float_format="%.6g")
    log.info("%s seed %d: %d models calibrated", experiment, seed, len(records))
    return records


def model_temperature(files: Mapping[str, str], info: Mapping[str, Any], data: pd.DataFrame, dataset: str,
                      embeddings: Mapping[str, Any], device: str, batch_size: int) -> tuple[dict[str, Any], pd.DataFrame]:
    """One trained model's temperature, fitted on its validation fold, and its calibrated test predictions.

    Reads only what rule `train` wrote (`files`: weights, manifest `info`, predictions) and the
    embeddings it was trained from, so calibration never retrains. The validation fold is the
    one the model's manifest names (the fold that early-stopped it); the test fold is predicted
    with the fitted temperature, but nothing on it is used for the fit. The recomputed
    uncalibrated test probabilities are compared with the training job's own, and the largest
    difference is recorded: 0 on the device and precision it trained at.
    """
    import numpy as np
    import torch

    from .calibration import fit_temperature, softmax
    from .classes import CLASSES
    from .device import resolve_device, resolve_training_precision
    from .training import ProteinSet, load_fold_model, predict_logits, predictions_frame

    manifest = files["manifest"]
    model, info = load_fold_model(files["weights"], dict(info))
    run_device = torch.device(resolve_device(device))
    # At the precision it trained at (`auto` as it resolved then); fp16 autocast needs a GPU.
    recorded = str(info.get("trained_on", {}).get("precision") or info.get("training", {}).get("precision", "fp32"))
    recorded = "fp32" if recorded == "auto" or (recorded == "fp16" and run_device.type == "cpu") else recorded
    precision = resolve_training_precision(recorded, str(run_device))
    model.to(run_device)
    val_fold, test_fold = int(info["val_fold"]), int(info["test_fold"])
    subsets = {"validation": data[data["fold"] == val_fold], "test": data[data["fold"] == test_fold]}
    for part, table in subsets.items():
        if table.empty:
            raise InputError(f"{manifest}: the {part} fold has no proteins in {dataset}")
    stores = [embeddings[name] for name in info["embedders"]]
    sets = {part: ProteinSet(table, stores, info["embedders"]) for part, table in subsets.items()}
    logits = {part: predict_logits(model, s, batch_size, precision, bool(info["use_group"]), run_device)
              for part, s in sets.items()}
    fit = fit_temperature(logits["validation"], sets["validation"].labels.numpy())
    calibrated = predictions_frame(sets["test"], softmax(logits["test"], fit.temperature))
    trained = read_id_tsv(files["predictions"])
    recomputed = predictions_frame(sets["test"], softmax(logits["test"]))
    if trained["id"].tolist() != recomputed["id"].tolist():
        raise InputError(f"{files['predictions']}: predicts other proteins than test fold {test_fold} of {dataset}")
    difference = float(np.abs(trained[list(CLASSES)].to_numpy(float) - recomputed[list(CLASSES)].to_numpy(float)).max())
    record = {
        "experiment": info["experiment"], "seed": int(info["seed"]), "test_fold": test_fold, "val_fold": val_fold,
        "grid": int(info["grid"]), "method": "temperature scaling: softmax(logits / T), T fitted on the validation fold",
        "fitted_on": f"validation fold {val_fold}", **fit.as_dict(),
        "device": str(run_device), "precision": precision,
        "test_max_abs_difference_to_training": difference,
    }
    log.info("%s seed %d, test fold %d, validation fold %d, grid point %d: T = %.4g (validation NLL %.4f -> %.4f, "
             "ECE %.4f -> %.4f, n = %d)%s; recomputed test probabilities differ from training's by <= %.2g",
             info["experiment"], record["seed"], test_fold, val_fold, record["grid"], fit.temperature, fit.nll_before,
             fit.nll_after, fit.ece_before, fit.ece_after, fit.n, " at the search bound" if fit.at_bound else "",
             difference)
    return record, calibrated


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


def evaluate_calibration(name: str, selections: Sequence[str], predictions: Sequence[str],
                         calibrations: Sequence[str], calibrated: Sequence[str], out: Mapping[str, str],
                         group_remap: bool = False) -> pd.DataFrame:
    """ECE and NLL of an experiment's test predictions before and after temperature scaling.

    Per (seed, test fold), `predictions` is select_models' ensemble (the mean of the selected
    models' probabilities) and the calibrated ensemble is the mean of the same models'
    calibrated probabilities (rule calibrate: `calibrations` and `calibrated` are its
    calibration.json and test_predictions_calibrated.tsv of each seed, any order), as
    `locfusion predict` averages them. Rows: one per seed and `all` (every seed's test
    predictions pooled); the validation columns are means over the ensembled models of their
    own validation-fold numbers (what the fits saw). Also written: the pooled calibrated
    ensemble and the reliability bins of both.
    """
    import numpy as np

    from .calibration import ECE_BINS, expected_calibration_error, reliability_bins
    from .calibration_files import describe_model, read_calibrated_predictions, read_calibrations
    from .classes import CLASS_INDEX, CLASSES
    from .cv import ensemble_predictions
    from .metrics import apply_group_remap

    if len(selections) != len(predictions):
        raise InputError(f"experiment '{name}': {len(selections)} selections for {len(predictions)} prediction tables")
    records = read_calibrations(calibrations)
    tables = read_calibrated_predictions(calibrated)
    before, after, fits = [], [], []
    for sel_path, pred_path in zip(selections, predictions, strict=True):
        selection = json.loads(Path(sel_path).read_text())
        seed, test_fold = int(selection["seed"]), int(selection["test_fold"])
        models = {m["manifest"]: m for m in selection["models"]}
        keys = []
        for manifest in selection["ensembled"]:  # in the order select_models averaged them
            if manifest not in models:
                raise InputError(f"{sel_path}: ensembled model {manifest} is not among the selection's models")
            keys.append((name, seed, test_fold, int(models[manifest]["val_fold"]), int(models[manifest]["grid"])))
        frames = []
        for key in keys:
            if key not in records or key not in tables:
                raise InputError(f"{sel_path}: ensembled model ({describe_model(key)}) has no calibration among "
                                 "the inputs")
            frames.append(tables[key])
        plain = read_id_tsv(pred_path)
        ensemble = ensemble_predictions(frames)
        if ensemble["id"].tolist() != plain["id"].tolist():
            raise InputError(f"{pred_path}: other proteins than the calibrated models of {sel_path} predict")
        before.append(plain.assign(seed=seed))
        after.append(ensemble.assign(seed=seed))
        fits.extend({**records[key], "seed": seed} for key in keys)
    plain_all = pd.concat(before, ignore_index=True)
    calibrated_all = pd.concat(after, ignore_index=True)
    scored = {"uncalibrated": plain_all, "calibrated": calibrated_all}
    if group_remap:
        scored = {k: apply_group_remap(v, v["group"]) for k, v in scored.items()}
    fit_table = pd.DataFrame(fits)

    def row(seed: int | str, keep: Any) -> dict[str, Any]:
        record: dict[str, Any] = {"experiment": name, "seed": seed}
        frame = scored["uncalibrated"][keep]
        labels = frame["true"].map(CLASS_INDEX).to_numpy()
        record["n_predictions"] = int(len(frame))
        chosen = fit_table if seed == "all" else fit_table[fit_table["seed"] == seed]
        record.update(n_models=int(len(chosen)), temperature_median=float(chosen["temperature"].median()),
                      temperature_min=float(chosen["temperature"].min()),
                      temperature_max=float(chosen["temperature"].max()))
        for column in ("nll_before", "nll_after", "ece_before", "ece_after"):
            record[f"val_{column}"] = float(chosen[column].mean())
        for state, suffix in (("uncalibrated", "before"), ("calibrated", "after")):
            probs = scored[state][keep][list(CLASSES)].to_numpy(dtype=np.float64)
            record[f"test_ece_{suffix}"] = expected_calibration_error(probs, labels)
            true_p = probs[np.arange(len(labels)), labels]
            record[f"test_nll_{suffix}"] = float(-np.mean(np.log(np.clip(true_p, 1e-12, None))))
            record[f"test_accuracy_{suffix}"] = float(np.mean(probs.argmax(axis=1) == labels))
        record.update(ece_bins=ECE_BINS, group_remap=bool(group_remap))
        return record

    seeds = sorted(plain_all["seed"].unique())
    table = pd.DataFrame([row(int(s), (plain_all["seed"] == s).to_numpy()) for s in seeds]
                         + [row("all", np.ones(len(plain_all), dtype=bool))])
    labels = scored["uncalibrated"]["true"].map(CLASS_INDEX).to_numpy()
    bins = pd.concat([reliability_bins(frame[list(CLASSES)].to_numpy(dtype=np.float64), labels)
                      .assign(experiment=name, probabilities=state) for state, frame in scored.items()],
                     ignore_index=True)
    write_tsv(table, out["table"], float_format="%.6g")
    write_tsv(bins[["experiment", "probabilities", *[c for c in bins.columns if c not in ("experiment", "probabilities")]]],
              out["reliability"], float_format="%.6g")
    write_tsv(calibrated_all, out["predictions"], float_format="%.6g")
    pooled = table.iloc[-1]
    log.info("%s: test ECE %.4f -> %.4f, NLL %.4f -> %.4f (%d predictions, %d models, median T %.3g)", name,
             pooled["test_ece_before"], pooled["test_ece_after"], pooled["test_nll_before"], pooled["test_nll_after"],
             pooled["n_predictions"], pooled["n_models"], pooled["temperature_median"])
    return table


def compare_calibration(tables: Sequence[str], out: str) -> pd.DataFrame:
    """One line per experiment: its pooled (all seeds) row of `evaluate_calibration`."""
    rows = []
    for path in tables:
        table = pd.read_csv(path, sep="\t", dtype={"seed": str})
        pooled = table[table["seed"] == "all"]
        if len(pooled) != 1:
            raise InputError(f"{path}: no single 'all' row (not a calibration table of rule evaluate_calibration)")
        rows.append(pooled)
    frame = pd.concat(rows, ignore_index=True).drop(columns="seed")
    write_tsv(frame, out, float_format="%.6g")
    return frame


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
    """One test fold's metrics from its ensemble's predictions (with DeepLocPro's group remap if asked)."""
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
