"""Inference with a bundle: the embedders it needs, batches of new proteins, fold models, ensemble.

The numbers of `locfusion predict` come from here; `locfusion.predict` reads the
input, drives these steps chunk by chunk and writes the outputs. Kept apart so
that the arithmetic (what a prediction is) can be read, tested and reused
without the file handling around it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .bundle import Bundle, check_embedder
from .classes import REMAP_GROUPS, remap_probabilities
from .sequence import effective_limit

__all__ = [
    "FeatureBatch",
    "build_embedders",
    "embed_batches",
    "embedder_precision",
    "ensemble_summary",
    "fold_probabilities",
    "length_limit",
    "plan_chunks",
]


def length_limit(manifest: Mapping[str, Any], embedders: Sequence[Any] = ()) -> int | None:
    """Residues a protein is cropped to: the length its training embeddings were limited to."""
    recorded = [int(v) for v in manifest["length"]["embedder_length_limits"].values() if int(v) > 0]
    limit = min(recorded) if recorded else None
    for embedder in embedders:
        limit = effective_limit(limit, embedder.max_residues)
    return limit


class FeatureBatch:
    """One batch's float16 features in the shape `training.predict_proba` reads (no labels).

    `group_index`: one organism group index (`classes.GROUP_INDEX`) for every protein,
    or one per protein (a mixed proteome's groups table), aligned with `lengths`.
    """

    def __init__(self, features: list[list[Any]], lengths: Sequence[int], group_index: int | Sequence[int]) -> None:
        import torch

        self.features = features
        self.lengths = np.asarray(lengths, dtype=np.int64)
        if np.ndim(group_index) == 0:
            self.groups = torch.full((len(lengths),), int(group_index), dtype=torch.long)
        else:
            indices = np.asarray(group_index, dtype=np.int64)
            if indices.shape != self.lengths.shape:
                raise ValueError(f"{len(indices)} group indices for {len(self.lengths)} proteins")
            self.groups = torch.as_tensor(indices, dtype=torch.long)
        self._padded: tuple[bytes, tuple[list[Any], Any, None, Any]] | None = None

    def __len__(self) -> int:
        return len(self.lengths)

    def batch(self, indices: np.ndarray) -> tuple[list[Any], Any, None, Any]:
        """Padded float32 inputs; padded once and reused by every fold model (the models do not modify them)."""
        import torch

        from .batching import pad_batch

        key = np.asarray(indices).tobytes()
        if self._padded is None or self._padded[0] != key:
            idx = torch.as_tensor(indices, dtype=torch.long)
            inputs = [pad_batch([feats[i] for i in indices]) for feats in self.features]
            self._padded = (key, (inputs, torch.as_tensor(self.lengths[indices]), None, self.groups[idx]))
        return self._padded[1]


def plan_chunks(lengths: Sequence[int], tokens_per_batch: int, chunk_size: int) -> list[list[list[int]]]:
    """Protein indices as chunks of batches.

    Batches are planned once over the whole input (`store.length_batches`:
    length-sorted, longest first, within `tokens_per_batch` padded residues), so
    every protein meets the same batch mates, the same padding and so the same
    arithmetic whatever the chunk size: the output does not depend on it. Chunks
    take whole consecutive batches up to `chunk_size` proteins (a batch with more
    proteins than that is a chunk of its own).
    """
    from .store import length_batches

    chunks: list[list[list[int]]] = []
    current: list[list[int]] = []
    count = 0
    for batch in length_batches(lengths, tokens_per_batch):
        if current and count + len(batch) > chunk_size:
            chunks.append(current)
            current, count = [], 0
        current.append(batch)
        count += len(batch)
    if current:
        chunks.append(current)
    return chunks


def embed_batches(embedders: Sequence[Any], batches: Sequence[Sequence[int]], ids: Sequence[str],
                  seqs: Mapping[int, str]) -> dict[int, list[Any]]:
    """Protein index -> one float16 (L, D) tensor per embedder, cast as the training shards store them."""
    import torch

    from .store import to_float16

    features: dict[int, list[Any]] = {i: [] for batch in batches for i in batch}
    for embedder in embedders:  # one embedder over the whole chunk, then the next
        for batch in batches:
            arrays = embedder.embed_batch([seqs[i] for i in batch])
            if len(arrays) != len(batch):
                raise RuntimeError(f"embedder '{embedder.name}' returned {len(arrays)} arrays for {len(batch)} sequences")
            for i, arr in zip(batch, arrays, strict=True):
                features[i].append(torch.from_numpy(to_float16(embedder, ids[i], arr, len(seqs[i]))))
    return features


def fold_probabilities(bundle: Bundle, batch: FeatureBatch, precision: str) -> np.ndarray:
    """(folds, proteins, classes) calibrated probabilities of every fold model for one batch, CLASSES order:
    softmax of the model's logits divided by its temperature (fitted on its validation fold)."""
    from .training import predict_proba

    device = next(bundle.models[0].parameters()).device
    return np.stack([predict_proba(model, batch, len(batch), precision, bundle.use_group, device, temperature=t)
                     for model, t in zip(bundle.models, bundle.temperatures, strict=True)])


def ensemble_summary(fold_probs: np.ndarray, group: str | Sequence[str]) -> dict[str, np.ndarray]:
    """Ensemble of (folds, n, C) probabilities: remap (positive, archaea), mean, top class, agreement.

    `group`: one organism group for all n proteins, or one per protein (aligned
    with the rows). The remap is applied to each fold's probabilities before
    averaging (it is linear, so the mean is the remapped mean) so that each fold's
    vote is the class it would predict under the same rule; only rows of a remapped
    group change.
    """
    fold_probs = np.asarray(fold_probs, dtype=np.float64)
    n = fold_probs.shape[1]
    groups = [group] * n if isinstance(group, str) else list(group)
    if len(groups) != n:
        raise ValueError(f"{len(groups)} groups for {n} proteins")
    if any(g in REMAP_GROUPS for g in groups):
        fold_probs = np.stack([remap_probabilities(p, groups) for p in fold_probs])
    mean = fold_probs.mean(axis=0)
    top = mean.argmax(axis=1)
    votes = fold_probs.argmax(axis=2)  # (folds, n)
    return {
        "probabilities": mean,
        "predicted": top,
        "confidence": mean[np.arange(len(top)), top],
        "agreement": (votes == top[None, :]).mean(axis=0),
    }


def embedder_precision(requested: str, recorded: str | None, device: str) -> str:
    """`auto`: the precision the bundle's embeddings were made at, when this device can run it.

    The models learned from those exact numbers; bf16 and fp32 embeddings of a
    protein language model differ by more than the fold models' rounding. Other
    choices, or a recorded precision this device lacks (fp16 on a CPU), resolve
    as in the embed rule.
    """
    from .device import resolve_precision

    if requested != "auto":
        return resolve_precision(requested, device)
    if recorded in ("fp32", "bf16") or (recorded == "fp16" and device.startswith("cuda")):
        return str(recorded)
    return resolve_precision("auto", device)


def build_embedders(bundle_dir: str | os.PathLike[str], manifest: Mapping[str, Any], options: Any,
                    embedder_specs: Mapping[str, Mapping[str, Any]] | None = None) -> list[Any]:
    """The bundle's embedders, built now (from the bundle's specs unless overridden) and checked against it.

    `options` gives device, precision and threads (`predict.PredictOptions`).
    """
    from .device import resolve_device
    from .embedders import RuntimeOptions, build_embedder

    device = resolve_device(options.device)
    embedders = []
    for entry in manifest["embedders"]:
        name = entry["name"]
        precision = embedder_precision(options.precision, entry["provenance"].get("precision"), device)
        runtime = RuntimeOptions(device=device, precision=precision, threads=options.threads)
        spec = dict((embedder_specs or {}).get(name) or entry["spec"])
        embedder = build_embedder(name, spec, runtime)
        check_embedder(bundle_dir, entry["provenance"], embedder)
        embedders.append(embedder)
    return embedders
