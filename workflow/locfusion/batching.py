"""Batches of proteins for training and inference.

Length-bucketed batches put proteins of similar length together, so a batch of
32 pays for little padding; with per-residue models (cross-attention, BiLSTM)
padding is most of the cost of random batches. Randomness comes only from the
generator passed in, so an epoch's batches are reproducible from its seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

BUCKET_BATCHES = 50  # proteins sorted within windows of this many batches: random yet length-homogeneous


def make_batches(
    lengths: Sequence[int] | np.ndarray,
    batch_size: int,
    rng: np.random.Generator | None = None,
    bucketed: bool = True,
) -> list[np.ndarray]:
    """Split protein indices into batches.

    rng None: deterministic order sorted by length (inference). Otherwise a
    shuffled epoch: bucketed sorts each window of BUCKET_BATCHES batches by
    length before cutting it, then shuffles the batch order.
    """
    lengths = np.asarray(lengths)
    n = len(lengths)
    if rng is None:
        order = np.argsort(-lengths, kind="stable")
        return [order[i : i + batch_size] for i in range(0, n, batch_size)]
    order = rng.permutation(n)
    if bucketed:
        window = batch_size * BUCKET_BATCHES
        chunks = []
        for start in range(0, n, window):
            part = order[start : start + window]
            chunks.append(part[np.argsort(-lengths[part], kind="stable")])
        order = np.concatenate(chunks) if chunks else order
    batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def pad_batch(features: Sequence[torch.Tensor], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Stack (L_i, D) tensors into a zero-padded (B, L_max, D) tensor.

    Each protein's rows are converted while copied into place, and only the padding is zeroed:
    one pass over the batch instead of pad_sequence's converted copies, padded copy and fill
    (the float16 stores' batches of 1,920-d rows: ~2x faster to assemble)."""
    if not features:
        raise ValueError("pad_batch needs at least one protein")
    width = features[0].shape[1:]
    for i, f in enumerate(features):
        if f.shape[1:] != width:
            raise ValueError(f"pad_batch: protein {i} has rows of shape {tuple(f.shape[1:])}, protein 0 {tuple(width)}")
    out = torch.empty((len(features), max(f.shape[0] for f in features), *width), dtype=dtype,
                      device=features[0].device)
    for row, f in zip(out, features):
        row[: f.shape[0]].copy_(f)
        row[f.shape[0] :].zero_()
    return out


def padding_fraction(lengths: Sequence[int] | np.ndarray, batches: Sequence[np.ndarray]) -> float:
    """Share of padded positions over all positions computed, for benchmarks and logs."""
    lengths = np.asarray(lengths)
    total = sum(int(lengths[b].max()) * len(b) for b in batches)
    return 1.0 - float(lengths.sum()) / total if total else 0.0
