"""Why this localization: what each fold model weighed along a protein, saved as HDF5.

Every built-in model has `explain()` (locfusion.models): the same logits as its
forward pass, plus the per-residue softmax weights it computed on the way:

- "attention": (heads, L) per model, each pooling head's weights over the
  protein's residues (each head sums to 1; `attention_pooling` has one head);
- "gate": (L, N) per fused model with N >= 2 inputs, the fusion gate's softmax
  over the embedders at each residue (each row sums to 1).

File layout (`explanations.h5`, written by `ExplanationWriter`):

    /                        attrs: format, format_version, model (kind), embedders (JSON list,
                             model-input order), n_heads, models (JSON list of fold model files),
                             classes (JSON), group (the run's: one group, "any", "per protein"
                             with a groups table, "own" for the report's examples), averaging
                             (what the *_mean datasets are)
    /proteins/<name>         one group per protein; <name> is the ID percent-encoded
                             (`idnames.dataset_name`), the ID itself is attribute `id`
        attention            float32 (models, heads, L): every fold model's every head, not averaged
        attention_mean       float32 (L,): mean over those models and heads (sums to 1)
        gate                 float32 (models, L, N): only for a gated fusion model
        gate_mean            float32 (L, N): mean over the models (rows sum to 1)
        attrs                id, sequence (as the models saw it, cropped if long), length,
                             original_length, cropped, predicted, confidence, true ("" if
                             unknown), models (JSON list: which of the file's models these are),
                             group (the organism group this protein was predicted with: its
                             input to a group-aware model and its remap; "any" for none)

Why per model and not only the ensemble mean: heads are unordered, so head 2 of
one fold model has nothing to do with head 2 of another; a per-head mean over
models would blend unrelated patterns. The overall mean (over models and heads)
is still a distribution over residues, and the gate's embedders are the same in
every model, so `attention_mean` and `gate_mean` are meaningful summaries.

What this cannot show: attention and gate weights say where a model's pooling
read from, not which residues caused the prediction; the BiLSTM before the
pooling has already mixed information along the sequence, so weight at residue
i may stand for context far from i. See README "Why this localization".
"""

from __future__ import annotations

import json
import os
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .classes import CLASSES
from .errors import InputError, listed
from .idnames import dataset_name, id_from_dataset_name

__all__ = [
    "EXPLANATION_FILE",
    "EXPLANATION_FORMAT",
    "EXPLANATION_FORMAT_VERSION",
    "ExplanationWriter",
    "ProteinExplanation",
    "explain_models",
    "explanation_plot_stem",
    "read_explanations",
    "select_examples",
]

EXPLANATION_FILE = "explanations.h5"
EXPLANATION_FORMAT = "locfusion-explanations"
EXPLANATION_FORMAT_VERSION = 1
AVERAGING = ("attention and gate: per fold model (heads are not comparable across models); "
             "attention_mean: mean over fold models and heads; gate_mean: mean over fold models")


@dataclass
class ProteinExplanation:
    """What the models weighed along one protein, with what they predicted."""

    id: str
    sequence: str  # as the models saw it (cropped when long)
    attention: np.ndarray  # (models, heads, L)
    gate: np.ndarray | None  # (models, L, N) or None without a gate
    models: list[str]
    predicted: str
    confidence: float
    original_length: int
    true: str = ""
    group: str = "any"  # the organism group it was predicted with (a mixed proteome: its own)

    @property
    def cropped(self) -> bool:
        return self.original_length > len(self.sequence)

    @property
    def attention_mean(self) -> np.ndarray:
        return self.attention.mean(axis=(0, 1))

    @property
    def gate_mean(self) -> np.ndarray | None:
        return None if self.gate is None else self.gate.mean(axis=0)


def explain_models(models: Sequence[Any], data: Any, precision: str, use_group: bool,
                   device: Any = "cpu", temperatures: Sequence[float] | None = None,
                   ) -> tuple[np.ndarray, list[dict[str, np.ndarray]]]:
    """(models, n, C) probabilities and, per protein, its {"attention", "gate"} stacked over models.

    The arithmetic of `training.predict_proba` (same batches, autocast, each model's
    logits divided by its temperature (a bundle's `temperatures`; 1 when None), softmax)
    with each model's `explain()` in place of its forward: the probabilities are
    bit-identical to `inference.fold_probabilities` on the same batch and temperatures.
    Weights are cut to each protein's length. One batch of all `data` (as `fold_probabilities`).
    """
    import torch

    from .batching import make_batches
    from .training import autocast, to_device

    device = torch.device(device)
    n = len(data)
    temperatures = [1.0] * len(models) if temperatures is None else list(temperatures)
    if len(temperatures) != len(models):
        raise InputError(f"{len(temperatures)} temperatures for {len(models)} models")
    probs = np.zeros((len(models), n, len(CLASSES)), dtype=np.float64)
    per_model: list[list[dict[str, np.ndarray]]] = [[{} for _ in range(n)] for _ in models]
    with torch.no_grad():
        for m, model in enumerate(models):
            if not hasattr(model, "explain"):
                raise InputError(f"model kind '{getattr(model, 'kind', type(model).__name__)}' cannot explain "
                                 "its predictions (it has no explain())")
            model.eval()
            for indices in make_batches(data.lengths, n):
                inputs, lengths, _, groups = to_device(data.batch(indices), device)
                with autocast(precision, device):
                    logits, record = model.explain(inputs, lengths, groups if use_group else None)
                probs[m, indices] = torch.softmax(logits.float() / temperatures[m], dim=-1).double().cpu().numpy()
                weights = {k: v.float().cpu().numpy() for k, v in record.items()}
                for row, i in enumerate(indices):
                    length = int(lengths[row])
                    per_model[m][i]["attention"] = weights["attention"][row, :, :length]
                    if "gate" in weights:
                        per_model[m][i]["gate"] = weights["gate"][row, :length, :]
    details = []
    for i in range(n):
        entry = {"attention": np.stack([per_model[m][i]["attention"] for m in range(len(models))])}
        if "gate" in per_model[0][i]:
            entry["gate"] = np.stack([per_model[m][i]["gate"] for m in range(len(models))])
        details.append(entry)
    return probs, details


class ExplanationWriter:
    """Streams `ProteinExplanation`s into an HDF5 file that appears at `path` only on `commit()`.

    Written beside `path` under a hidden temporary name (removed if the run dies
    before `commit`), so a failed prediction never leaves a partial file behind.
    """

    def __init__(self, path: str | os.PathLike[str], model_kind: str, embedders: Sequence[str],
                 model_files: Sequence[str], group: str) -> None:
        import h5py

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._finalizer = weakref.finalize(self, _unlink, self._tmp)
        self.model_files = list(model_files)
        self._file = h5py.File(self._tmp, "w")
        attrs = {
            "format": EXPLANATION_FORMAT,
            "format_version": EXPLANATION_FORMAT_VERSION,
            "model": model_kind,
            "embedders": json.dumps(list(embedders)),
            "n_heads": 0,  # set by the first protein added (0: the file holds none)
            "models": json.dumps(self.model_files),
            "classes": json.dumps(list(CLASSES)),
            "group": group,
            "averaging": AVERAGING,
        }
        self._file.attrs.update(attrs)
        self._proteins = self._file.create_group("proteins")
        self.count = 0

    def add(self, item: ProteinExplanation) -> None:
        if self.count == 0:
            self._file.attrs["n_heads"] = int(item.attention.shape[1])
        group = self._proteins.create_group(dataset_name(item.id))
        options = {"compression": "gzip", "shuffle": True}
        group.create_dataset("attention", data=item.attention.astype(np.float32), **options)
        group.create_dataset("attention_mean", data=item.attention_mean.astype(np.float32), **options)
        if item.gate is not None:
            group.create_dataset("gate", data=item.gate.astype(np.float32), **options)
            group.create_dataset("gate_mean", data=item.gate_mean.astype(np.float32), **options)
        group.attrs.update({
            "id": item.id, "sequence": item.sequence, "length": len(item.sequence),
            "original_length": int(item.original_length), "cropped": bool(item.cropped),
            "predicted": item.predicted, "confidence": float(item.confidence), "true": item.true,
            "models": json.dumps(list(item.models)), "group": item.group,
        })
        self.count += 1

    def commit(self) -> Path:
        from .io import atomic_path

        self._file.close()
        with atomic_path(self.path) as tmp:  # the rename (and a full disk) handled as for every output
            os.replace(self._tmp, tmp)
        self._finalizer.detach()
        return self.path


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


def read_explanations(path: str | os.PathLike[str], ids: Iterable[str] | None = None) -> tuple[dict[str, Any],
                                                                                             list[ProteinExplanation]]:
    """The file's attributes and its proteins (all, or `ids` in that order; a missing one is an error)."""
    import h5py


    path = Path(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"{path}: not a readable explanations file ({str(exc).splitlines()[0]})") from None
    with handle:
        if handle.attrs.get("format") != EXPLANATION_FORMAT:
            raise InputError(f"{path}: not a locfusion explanations file (format {handle.attrs.get('format')!r})")
        meta = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in handle.attrs.items()}
        for key in ("embedders", "models", "classes"):
            meta[key] = json.loads(meta[key])
        proteins = handle["proteins"]
        names = [id_from_dataset_name(n) for n in proteins] if ids is None else list(ids)
        missing = [pid for pid in names if dataset_name(pid) not in proteins]
        if missing:
            raise InputError(f"{path}: no explanation for {len(missing)} protein(s): {listed(missing)}")
        items = []
        for pid in names:
            group = proteins[dataset_name(pid)]
            a = group.attrs
            items.append(ProteinExplanation(
                id=str(a["id"]), sequence=str(a["sequence"]), attention=group["attention"][()],
                gate=group["gate"][()] if "gate" in group else None, models=json.loads(a["models"]),
                predicted=str(a["predicted"]), confidence=float(a["confidence"]),
                original_length=int(a["original_length"]), true=str(a["true"]),
                group=str(a.get("group", meta.get("group", "any"))),  # files written before the attribute: the run's
            ))
    return meta, items


def explanation_plot_stem(out_dir: str | os.PathLike[str], protein_id: str) -> Path:
    """Where the track plot of one protein goes: <out_dir>/explanations/<percent-encoded ID>."""
    return Path(out_dir) / "explanations" / dataset_name(protein_id)


def select_examples(predictions: Any, per_class: int) -> Any:
    """The `per_class` most confident correct test predictions of each true class.

    `predictions`: test_predictions.tsv rows (id, fold, group, true, one probability
    column per class), possibly several seeds: probabilities are averaged per protein
    first. Confidence is the mean probability of the true class; ties go to the
    smaller ID, so the choice is deterministic. A class with fewer correct proteins
    gives fewer. For illustration only (it reads test-fold predictions; nothing is
    fitted or chosen for the model from it).
    """
    import pandas as pd

    probs = predictions.groupby(["id", "fold", "group", "true"], sort=True)[list(CLASSES)].mean().reset_index()
    probs["predicted"] = [CLASSES[i] for i in probs[list(CLASSES)].to_numpy().argmax(axis=1)]
    probs["confidence"] = probs[list(CLASSES)].max(axis=1)
    correct = probs[probs["predicted"] == probs["true"]]
    chosen = [correct[correct["true"] == c].sort_values(["confidence", "id"], ascending=[False, True]).head(per_class)
              for c in CLASSES]
    columns = ["id", "fold", "group", "true", "predicted", "confidence"]
    return pd.concat(chosen, ignore_index=True)[columns] if chosen else pd.DataFrame(columns=columns)


def explain_examples(bundle_dir: str | os.PathLike[str], predictions: Sequence[str | os.PathLike[str]],
                     dataset: str | os.PathLike[str], shards: Mapping[str, Sequence[str]], per_class: int,
                     out: str | os.PathLike[str], threads: int = 1) -> int:
    """Explanations of chosen test proteins (`select_examples`) by the fold models that never saw them.

    Each protein is explained by the bundle's models whose test fold holds it (all
    seeds and validation folds), on its stored embeddings: what those models
    weighed when they made the test prediction the report shows (run here in fp32 on the
    CPU, whatever precision they trained at; `predicted` and `confidence` are the test
    predictions', averaged over seeds). Returns the count.
    """
    import pandas as pd
    import torch

    from .bundle import load_bundle
    from .classes import GROUP_INDEX
    from .dataset import read_dataset
    from .inference import FeatureBatch
    from .io import read_id_tsv
    from .sequence import crop_sequence
    from .store import EmbeddingReader

    torch.set_num_threads(threads)
    table = pd.concat([read_id_tsv(p, text_columns=("id", "group", "true", "predicted")) for p in predictions],
                      ignore_index=True)
    chosen = select_examples(table, per_class)
    bundle = load_bundle(bundle_dir)
    sequences = dict(zip(*(read_dataset(str(dataset))[c] for c in ("id", "sequence")), strict=True))
    names = bundle.embedder_names
    readers = [EmbeddingReader(shards[name]) for name in names]
    try:
        writer = ExplanationWriter(out, bundle.manifest["model"], names, [f["file"] for f in bundle.manifest["folds"]],
                                   "own")  # each protein's own organism group
        for row in chosen.itertuples(index=False):
            which = [j for j, f in enumerate(bundle.manifest["folds"]) if int(f["test_fold"]) == int(row.fold)]
            if not which:
                raise InputError(f"bundle {bundle_dir} holds no model of test fold {row.fold} (protein '{row.id}')")
            arrays = [torch.from_numpy(reader[row.id]) for reader in readers]
            data = FeatureBatch([[a] for a in arrays], [arrays[0].shape[0]], GROUP_INDEX.get(row.group, 0))
            _, details = explain_models([bundle.models[j] for j in which], data, "fp32", bundle.use_group)
            seq = sequences[row.id]
            writer.add(ProteinExplanation(
                id=row.id, sequence=crop_sequence(seq, arrays[0].shape[0]), attention=details[0]["attention"],
                gate=details[0].get("gate"), models=[bundle.manifest["folds"][j]["file"] for j in which],
                predicted=row.predicted, confidence=float(row.confidence), original_length=len(seq), true=row.true,
                group=str(row.group),
            ))
        writer.commit()  # with no correct test prediction at all: an empty, valid file
        return writer.count
    finally:
        for reader in readers:
            reader.close()
