"""Predict where the proteins of a new proteome live, with a bundle's ensemble of fold models.

Input is any protein FASTA: no labels or folds; the ID is the header up to the
first space; any length (proteins longer than the bundle's length limit are
cropped to their N- and C-terminal halves, as in training, and never dropped,
even when the bundle was trained with `long_policy: drop`); X, U, Z, B and O are
accepted (each embedder has a defined row for them). Everything is checked
before any work starts, and a problem stops with one line that names the
record: empty file, not FASTA, empty sequence, duplicate ID, a character that
is no amino acid (named with its position), a nucleotide sequence.

Memory stays bounded whatever the proteome size: embeddings are never held
for the whole input. Batches are planned once over all proteins (sorted by
length, longest first, within `tokens_per_batch` padded residues, the same
budget for the embedders and the fold models), then processed in chunks of
whole batches of at most `chunk_size` proteins (default 1,000): a chunk is
embedded in memory by every embedder, cast to float16 exactly as the training
shards store embeddings, run through every fold model batch by batch, and
discarded. Peak memory is set by the chunk (about chunk_size x mean length x
sum of embedding widths x 2 bytes), not by the proteome. Held for the whole
run are only the sequences (a byte a residue, so that all of them are checked
before hours of embedding start), each protein's organism group (about 16
bytes) and the results (72 bytes a protein), which are written in input order
at the end. Because the batches do not depend on
the chunk size, neither does a single number of the output.

Output (`predictions.tsv` and the same table as `predictions.csv`), one row per
input protein, in input order, DeepLocPro's column names where they overlap:

    column                  meaning                                DeepLocPro 1.0 output
    ACC                     protein ID                             ACC
    Localization            predicted class (DeepLocPro spelling)  Localization
    Cell wall & surface     calibrated probability, mean over      Cell wall & surface
                            fold models
    Extracellular           "                                      Extracellular
    Cytoplasmic             "                                      Cytoplasmic
    Cytoplasmic Membrane    "  (locfusion: Cytoplasmic membrane)   Cytoplasmic Membrane
    Outer Membrane          "  (locfusion: Outer membrane)         Outer Membrane
    Periplasmic             "                                      Periplasmic
    Confidence              top probability                        -
    Agreement               fraction of fold models whose own      -
                            top class is the ensemble's
    Cropped                 yes when the protein was cropped       -

DeepLocPro's own predictor (DeepLocPro/deeplocpro.py) writes exactly `ACC`,
`Localization` and these six probability columns in this order (after a pandas
index column, left out here); `Protein_ID` is DeepLoc 2.0's name for the first
column, not DeepLocPro's. Probabilities have 6 decimals (DeepLocPro: 4).

Probabilities are calibrated: each fold model's logits are divided by its
temperature (stored in the bundle, fitted on that model's validation fold by
rule calibrate, `locfusion.calibration`) before the softmax, then the fold
models are averaged; summary.json and the printed line say so and list the
temperatures. Calibration never changes a fold model's own top class.

Organism group (`group`): `any` (default) and `negative` leave the
probabilities as predicted; `positive` and `archaea` apply DeepLocPro's remap
(`classes.remap_probabilities`: Outer membrane and Periplasmic probability moves
to Extracellular, as such cells have neither), to each fold model's output, so
that Agreement counts remapped votes. A bundle trained with the organism group as
input (`use_group`) is given the group of every protein and needs a group other
than `any`. A mixed proteome (metagenome bins, a panel of strains) gives each
protein its own group instead (`groups`: a TSV with columns id and group,
`locfusion.group_table`, checked against the FASTA before any model work): that
group is the protein's model input and decides its remap, exactly as a
single-group run with that group would (a protein's numbers do not depend on
its batch mates' groups).

Same input, bundle and options give byte-identical files, whatever the chunk size.

Explanations (`explain`): also `explanations.h5`, every protein's per-residue
attention weights of each fold model's pooling heads and, for a gated fusion
model, the gate's weight on each embedder (layout: `locfusion.explain`), from
the very forward passes that made the predictions (the table is bit-identical
with and without); and a track plot (`explanations/<ID>.png/.pdf`,
`locfusion.explain_plots`) of each protein in `explain_ids`.

This module reads the input, drives the chunks and writes the outputs; what a
prediction is (embedders, batches, fold models, ensemble) lives in `locfusion.inference`.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .bundle import load_bundle, read_manifest
from .classes import CLASSES, DEEPLOCPRO_OUTPUT_NAMES, GROUP_INDEX, GROUPS, REMAP_GROUPS
from .errors import InputError, listed
from .fasta import read_plain_fasta
from .explain import EXPLANATION_FILE, ExplanationWriter, ProteinExplanation, explain_models, explanation_plot_stem
from .group_table import ProteinGroups, read_group_table
from .inference import (
    FeatureBatch,
    build_embedders,
    embed_batches,
    ensemble_summary,
    fold_probabilities,
    length_limit,
    plan_chunks,
)
from .io import sha256_file
from .sequence import crop_sequence

log = logging.getLogger(__name__)

__all__ = [
    "DEEPLOCPRO_OUTPUT_NAMES",
    "GROUP_CHOICES",
    "OUTPUT_COLUMNS",
    "PER_PROTEIN",
    "PROBABILITY_COLUMNS",
    "PredictOptions",
    "check_group",
    "predict_proteome",
]

# DeepLocPro's column order, and where each column sits in locfusion's CLASSES order.
PROBABILITY_COLUMNS: tuple[str, ...] = tuple(DEEPLOCPRO_OUTPUT_NAMES.values())
_COLUMN_CLASS_INDEX = [CLASSES.index(c) for c in DEEPLOCPRO_OUTPUT_NAMES]
OUTPUT_COLUMNS: tuple[str, ...] = ("ACC", "Localization", *PROBABILITY_COLUMNS, "Confidence", "Agreement", "Cropped")
GROUP_CHOICES: tuple[str, ...] = ("any", *GROUPS)
PER_PROTEIN = "per protein"  # summary.json's and explanations.h5's group with a groups table
OUTPUT_FILES = {"tsv": "predictions.tsv", "csv": "predictions.csv", "summary": "summary.json"}
PLOT_STEM = "class_distribution"


@dataclass(frozen=True)
class PredictOptions:
    """How to run a prediction (the CLI's options and the config's `predict:` section)."""

    group: str = "any"
    groups: str | None = None  # TSV with each protein's group (id, group); replaces `group` (then `any`)
    chunk_size: int = 1000  # proteins embedded and predicted at a time (bounds memory)
    tokens_per_batch: int = 8192  # padded residues (longest x proteins) per embedder and fold-model batch
    device: str = "auto"  # where the embedders and the fold models run (config: embed.device)
    precision: str = "auto"  # embedders' precision
    threads: int = 1
    plot: bool = False
    progress: bool = True
    explain: bool = False  # also write explanations.h5 (locfusion.explain)
    explain_ids: tuple[str, ...] = ()  # proteins to draw a track plot of (needs explain)

    def __post_init__(self) -> None:
        if self.group not in GROUP_CHOICES:
            raise InputError(f"group '{self.group}' must be one of {', '.join(GROUP_CHOICES)}")
        if self.groups is not None and self.group != "any":
            raise InputError(f"group '{self.group}' and a groups table ({self.groups}) given together: give one group "
                             "for the whole proteome (--group) or each protein's group (--groups), not both")
        for key in ("chunk_size", "tokens_per_batch", "threads"):
            if int(getattr(self, key)) < 1:
                raise InputError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.explain_ids and not self.explain:
            raise InputError("explain_ids (proteins to plot) need explain")


# ----------------------------------------------------------------------------- input


def check_group(group: str, manifest: Mapping[str, Any], bundle_dir: str | os.PathLike[str],
                per_protein: bool = False) -> None:
    """A bundle trained with the organism group as input needs to be told the group (of all, or of each protein)."""
    if group not in GROUP_CHOICES:
        raise InputError(f"group '{group}' must be one of {', '.join(GROUP_CHOICES)}")
    if manifest["use_group"] and group == "any" and not per_protein:
        raise InputError(
            f"bundle {bundle_dir} was trained with the organism group as input: give the group of the proteome "
            f"(--group {'|'.join(GROUPS)}) or of each protein (--groups FILE: a TSV with columns id and group)"
        )


# ----------------------------------------------------------------------------- output


def clear_previous_outputs(owned: Iterable[Path]) -> list[Path]:
    """Delete the files a previous prediction left at this run's output paths, and say so.

    Called once the new predictions are computed, just before they are written: a
    run that fails before that point (bad input, embedding, a model) leaves the
    previous results whole; from that point on the directory holds only this run's
    files (all of them once it finishes), never one run's table beside another's
    plot or summary. Other files in the directory are not touched.
    """
    removed = [path for path in owned if path.is_file()]
    for path in removed:
        path.unlink()
    if removed:
        log.info("replacing a previous prediction's outputs: %s", ", ".join(str(p) for p in removed))
    return removed


def write_tables(paths: Mapping[str, Path], rows: Iterable[Sequence[str]]) -> None:
    """The same table as TSV and CSV (quoted where a field needs it), written row by row, each atomically."""
    import contextlib

    from .io import atomic_path

    with contextlib.ExitStack() as stack:
        writers = []
        for fmt, path in paths.items():
            tmp = stack.enter_context(atomic_path(path))
            handle = stack.enter_context(open(tmp, "w", newline="", encoding="utf-8"))
            writers.append(csv.writer(handle, delimiter="\t" if fmt == "tsv" else ",", lineterminator="\n"))
        for writer in writers:
            writer.writerow(OUTPUT_COLUMNS)
        for row in rows:
            for writer in writers:
                writer.writerow(row)


def _row(pid: str, cropped: bool, probs: np.ndarray, top: int, confidence: float, agreement: float) -> list[str]:
    return [
        pid,
        DEEPLOCPRO_OUTPUT_NAMES[CLASSES[top]],
        *(f"{probs[j]:.6f}" for j in _COLUMN_CLASS_INDEX),
        f"{confidence:.6f}",
        f"{agreement:.6f}",
        "yes" if cropped else "no",
    ]


def plot_class_distribution(counts: Mapping[str, int], stem: str | os.PathLike[str], title: str) -> list[Path]:
    """Bar chart of the predicted classes of a proteome (PNG and PDF)."""
    from matplotlib.figure import Figure

    from .plots import save_figure

    names = list(PROBABILITY_COLUMNS)
    values = [int(counts.get(n, 0)) for n in names]
    total = max(sum(values), 1)
    fig = Figure(figsize=(6.5, 3.6))
    ax = fig.add_subplot()
    bars = ax.barh(names[::-1], values[::-1], color="#4c72b0")
    for bar, value in zip(bars, values[::-1], strict=True):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {value} ({100 * value / total:.1f} %)",
                va="center", fontsize=8)
    ax.set_xlabel("proteins")
    ax.set_xlim(0, max(values + [1]) * 1.3)
    ax.set_title(title, fontsize=9)
    ax.spines[["top", "right"]].set_visible(False)
    return save_figure(fig, stem)


# ----------------------------------------------------------------------------- driver


def predict_proteome(
    fasta: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    bundle_dir: str | os.PathLike[str],
    options: PredictOptions | None = None,
    embedder_specs: Mapping[str, Mapping[str, Any]] | None = None,
    outputs: Mapping[str, str | os.PathLike[str]] | None = None,
) -> dict[str, Any]:
    """Predict every protein of `fasta` with the bundle in `bundle_dir`; write the tables to `out_dir`.

    `embedder_specs` (name -> spec) replaces the bundle's recorded embedder specs,
    e.g. to point at a local copy of the weights; the embedders built must still
    reproduce the bundle's provenance. `outputs` may name the files individually
    (keys tsv, csv, summary), as the Snakemake rule does. Returns the summary.
    """
    options = options or PredictOptions()
    records = read_plain_fasta(fasta)  # first, and before importing torch: bad input fails at once
    unknown = sorted(set(options.explain_ids) - {pid for pid, _ in records})
    if unknown:
        raise InputError(f"{fasta}: no protein with the ID(s) to explain {listed(unknown)}")
    ids = [pid for pid, _ in records]
    table = read_group_table(options.groups, ids, fasta) if options.groups is not None else None
    manifest = read_manifest(bundle_dir)
    check_group(options.group, manifest, bundle_dir, per_protein=table is not None)

    import torch

    from .device import resolve_device, resolve_training_precision

    out_dir = Path(out_dir)
    paths = {k: Path(outputs[k]) if outputs and k in outputs else out_dir / v for k, v in OUTPUT_FILES.items()}
    torch.set_num_threads(options.threads)
    bundle = load_bundle(bundle_dir)
    embedders = build_embedders(bundle_dir, manifest, options, embedder_specs)
    for embedder, dim in zip(embedders, manifest["input_dims"], strict=True):
        if embedder.dim != dim:
            raise InputError(f"bundle {bundle_dir}: embedder '{embedder.name}' is {embedder.dim}-d, the models take {dim}-d")
    limit = length_limit(manifest, embedders)
    device = resolve_device(options.device)  # the fold models run beside the embedders
    # The precision the models trained at (`auto` as it resolved then), not `auto` resolved anew here.
    recorded = str(manifest.get("trained_on", {}).get("precision") or manifest.get("training", {}).get("precision", "fp32"))
    recorded = "fp32" if recorded == "auto" else recorded
    # The fold models' weights are fp32; a model trained with fp16 autocast on a GPU runs fp32 on a CPU.
    precision = resolve_training_precision("fp32" if recorded == "fp16" and device == "cpu" else recorded, device)
    for model in bundle.models:
        model.to(device)
    n = len(records)
    # Each protein's group: its row of the table, or the one group of the run (`any`: index 0, unused by the
    # models of a bundle without use_group, which is the only kind that accepts `any`).
    groups = list(table.groups) if table is not None else [options.group] * n
    group_indices = np.array([GROUP_INDEX.get(g, 0) for g in groups], dtype=np.int64)
    group_label = PER_PROTEIN if table is not None else options.group
    lengths = [len(seq) if limit is None else min(len(seq), limit) for _, seq in records]
    chunks = plan_chunks(lengths, options.tokens_per_batch, options.chunk_size)
    log.info("%s: %d proteins from %s in %d chunk(s) of <= %d; crop to %s residues; group %s; %d thread(s)",
             bundle.describe(), n, fasta, len(chunks), options.chunk_size, limit, _describe_groups(group_label, table),
             options.threads)

    # Results only (72 bytes a protein) are kept for the whole input, to be written in input order.
    probabilities = np.zeros((n, len(CLASSES)), dtype=np.float64)
    top = np.zeros(n, dtype=np.int64)
    confidence = np.zeros(n, dtype=np.float64)
    agreement = np.zeros(n, dtype=np.float64)
    started = time.perf_counter()
    done = 0
    explain_path = Path(outputs["explanations"]) if outputs and "explanations" in outputs else out_dir / EXPLANATION_FILE
    explanations = ExplanationWriter(explain_path, manifest["model"], bundle.embedder_names,
                                     [f["file"] for f in manifest["folds"]], group_label) if options.explain else None
    for c, batches in enumerate(chunks, start=1):
        seqs = {i: records[i][1] if limit is None else crop_sequence(records[i][1], limit) for b in batches for i in b}
        features = embed_batches(embedders, batches, ids, seqs)
        for batch in batches:
            data = FeatureBatch([[features[i][e] for i in batch] for e in range(len(embedders))],
                          [lengths[i] for i in batch], group_indices[batch])
            if explanations is None:
                fold_probs = fold_probabilities(bundle, data, precision)
            else:  # the same forward passes, also returning what each model weighed
                fold_probs, details = explain_models(bundle.models, data, precision, bundle.use_group, device,
                                                     bundle.temperatures)
            result = ensemble_summary(fold_probs, [groups[i] for i in batch])
            probabilities[batch] = result["probabilities"]
            top[batch] = result["predicted"]
            confidence[batch] = result["confidence"]
            agreement[batch] = result["agreement"]
            if explanations is not None:
                for row, i in enumerate(batch):
                    explanations.add(ProteinExplanation(
                        id=ids[i], sequence=seqs[i], attention=details[row]["attention"], gate=details[row].get("gate"),
                        models=explanations.model_files, predicted=CLASSES[int(top[i])],
                        confidence=float(confidence[i]), original_length=len(records[i][1]), group=groups[i]))
        done += len(seqs)
        del features, seqs  # the chunk's embeddings go here: memory is set by the chunk
        if options.progress:
            elapsed = time.perf_counter() - started
            log.info("chunk %d/%d: %d/%d proteins (%.1f proteins/s)", c, len(chunks), done, n, done / max(elapsed, 1e-9))

    cropped = np.array([lengths[i] < len(records[i][1]) for i in range(n)], dtype=bool)
    clear_previous_outputs([*paths.values(), *sorted(out_dir.glob(f"{PLOT_STEM}.*")), explain_path,
                            *sorted(out_dir.glob("explanations/*.png")), *sorted(out_dir.glob("explanations/*.pdf"))])
    rows = (_row(ids[i], bool(cropped[i]), probabilities[i], int(top[i]), confidence[i], agreement[i]) for i in range(n))
    write_tables({"tsv": paths["tsv"], "csv": paths["csv"]}, rows)
    counts = Counter(DEEPLOCPRO_OUTPUT_NAMES[CLASSES[int(k)]] for k in top)
    n_cropped = int(cropped.sum())

    summary = {
        "locfusion_version": __version__,
        "input": {"fasta": str(fasta), "sha256": sha256_file(fasta), "n_proteins": n, "n_cropped": n_cropped},
        "bundle": {
            "path": str(bundle_dir),
            "experiment": manifest.get("experiment"),
            "model": manifest["model"],
            "manifest_sha256": sha256_file(Path(bundle_dir) / "manifest.json"),
            "n_folds": len(bundle.models),
        },
        "group": group_label,
        "group_remap": any(g in REMAP_GROUPS for g in groups),  # one group or a table: `groups` holds each protein's
        "length_limit": limit,
        "embedders": [e.provenance() for e in embedders],
        "options": {"tokens_per_batch": options.tokens_per_batch, "classifier_precision": precision},
        "probabilities": {
            "calibration": "temperature scaling",
            "calibrated": True,
            "description": "each fold model's logits divided by its temperature before the softmax, then the mean "
                           "over fold models; temperatures fitted on each model's validation fold (never its test fold)",
            "temperatures": {entry["file"]: t for entry, t in zip(manifest["folds"], bundle.temperatures, strict=True)},
        },
        "localization_counts": {name: int(counts.get(name, 0)) for name in PROBABILITY_COLUMNS},
        "columns": list(OUTPUT_COLUMNS),
    }
    if table is not None:
        summary["groups"] = group_table_summary(table)
    if explanations is not None:
        summary["explanations"] = {"file": str(explain_path), "n_proteins": explanations.count,
                                   "plotted": list(options.explain_ids)}
    from .io import write_json

    write_json(summary, paths["summary"])
    if options.plot:
        title = f"{n} proteins, {manifest.get('experiment')} ensemble, group {group_label}"
        plot_class_distribution(counts, out_dir / PLOT_STEM, title)
    if explanations is not None:
        explanations.commit()
        if options.explain_ids:
            from .explain import read_explanations
            from .explain_plots import plot_explanation

            meta, items = read_explanations(explain_path, options.explain_ids)
            for item in items:
                plot_explanation(item, meta["embedders"], explanation_plot_stem(out_dir, item.id))
    seconds = time.perf_counter() - started
    log.info("wrote %d predictions to %s (%.1f s, %.1f proteins/s)", n, paths["tsv"].parent, seconds, n / max(seconds, 1e-9))
    log.info("%s", summary_line(summary))
    return summary


def group_table_summary(table: ProteinGroups) -> dict[str, Any]:
    """summary.json's record of a groups table: which file (path, sha256) and how many proteins per group."""
    counts = table.counts()
    return {"table": table.path, "sha256": sha256_file(table.path), "counts": counts,
            "remapped": sum(counts[g] for g in REMAP_GROUPS)}


def _describe_groups(label: str, table: ProteinGroups | None) -> str:
    if table is None:
        return label
    return f"{label} from {table.path} ({', '.join(f'{g} {k}' for g, k in table.counts().items())})"


def summary_line(summary: Mapping[str, Any]) -> str:
    """One line for the terminal: how many proteins, where they were predicted to be."""
    counts = summary["localization_counts"]
    shown = ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]) if v)
    line = f"{summary['input']['n_proteins']} proteins predicted ({shown})"
    probabilities = summary.get("probabilities", {})
    if probabilities.get("calibrated"):
        temperatures = list(probabilities["temperatures"].values())
        line += (f"; probabilities temperature-calibrated per fold model (T {min(temperatures):.3g}-{max(temperatures):.3g}, "
                 "fitted on validation folds)")
    return line


def load_embedder_specs(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Embedder specs from YAML: a mapping name -> spec, or a locfusion config (its `embedders:`)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: embedder spec file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if isinstance(data, dict) and isinstance(data.get("embedders"), dict):
        data = data["embedders"]
    if not isinstance(data, dict) or not all(isinstance(v, dict) and "kind" in v for v in data.values()):
        raise InputError(f"{path}: expected a mapping of embedder name -> spec with a 'kind' (or a locfusion config)")
    return {str(k): dict(v) for k, v in data.items()}


def manifest_overview(bundle_dir: str | os.PathLike[str]) -> str:
    """A few lines describing a bundle (for `locfusion inspect`)."""
    m = read_manifest(bundle_dir, verify=False)  # show what even a damaged bundle claims
    lines = [
        f"bundle        {bundle_dir}",
        f"experiment    {m.get('experiment')} (locfusion {m.get('locfusion_version')})",
        f"model         {m['model']}",
        f"group input   {'yes (needs --group or --groups)' if m['use_group'] else 'no'}",
        f"length        max_length {m['length']['max_length']} (training: {m['length']['training_long_policy']}; "
        f"prediction: crop)",
        f"training data dataset.tsv sha256 {m.get('training_data', {}).get('dataset_sha256')} "
        f"({m.get('training_data', {}).get('n_proteins')} proteins)",
    ]
    for e in m["embedders"]:
        p = e["provenance"]
        keys = {k: v for k, v in p.items() if k.startswith("spec.") or k in ("layer", "checkpoint_sha256", "weights_sha256")}
        lines.append(f"embedder      {e['name']}: {p.get('kind')}, {p.get('dim')}-d {json.dumps(keys, sort_keys=True)}")
    for f in m["folds"]:
        lines.append(f"fold model    {f['file']}: seed {f.get('seed')}, test fold {f['test_fold']}, "
                     f"validation fold {f['val_fold']}, grid point {f.get('grid', 0)}, "
                     f"best epoch {f['best_epoch']}, validation MCC {f['best_val_mcc']:.3f}, "
                     f"temperature {f.get('temperature', '(none)')}, "
                     f"params {json.dumps(f['params'], sort_keys=True)}")
    return "\n".join(lines)
