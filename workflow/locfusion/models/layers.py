"""Masked building blocks shared by every model.

Batches are zero-padded to the longest protein, so every step that mixes
positions (attention, recurrence, pooling) must see only a protein's own
residues: otherwise a protein's prediction would depend on what it was batched
with. These helpers are the one place that turns `lengths` into masks and
validates a forward call's tensors.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
from torch import Tensor


def length_mask(lengths: Tensor, max_len: int, device: torch.device | None = None) -> Tensor:
    """(B, max_len) bool mask, True at valid residues (position < length)."""
    positions = torch.arange(max_len, device=device)
    return positions.unsqueeze(0) < lengths.to(device).unsqueeze(1)


def masked_softmax(scores: Tensor, mask: Tensor, dim: int = -1) -> Tensor:
    """Softmax of `scores` over `dim` where masked-out entries get exactly zero weight.

    Computed in float32 (also under autocast) so that long proteins' weights do
    not lose precision; every row must have at least one valid entry.
    """
    scores = scores.float().masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=dim)


def check_forward_inputs(
    inputs: Sequence[Tensor],
    lengths: Tensor,
    input_dims: Sequence[int],
    groups: Tensor | None,
    n_groups: int,
) -> Tensor:
    """Validate a forward call; return `lengths` as an int64 CPU tensor.

    Inconsistent shapes are bugs in the calling code, not user input, so they
    raise `ValueError` with the offending shapes rather than failing deep inside
    an attention or LSTM kernel.
    """
    if len(inputs) != len(input_dims):
        raise ValueError(f"expected {len(input_dims)} input tensors, got {len(inputs)}")
    batch, max_len = inputs[0].shape[:2]
    for i, (x, dim) in enumerate(zip(inputs, input_dims)):
        if x.dim() != 3 or x.shape[0] != batch or x.shape[1] != max_len or x.shape[2] != dim:
            raise ValueError(
                f"input {i}: expected shape ({batch}, {max_len}, {dim}), got {tuple(x.shape)}"
            )
    lengths = lengths.to("cpu", torch.int64)
    if lengths.shape != (batch,):
        raise ValueError(f"lengths: expected shape ({batch},), got {tuple(lengths.shape)}")
    if batch and (int(lengths.min()) < 1 or int(lengths.max()) > max_len):
        raise ValueError(f"lengths must lie in [1, {max_len}], got {lengths.tolist()}")
    if n_groups > 0:
        if groups is None:
            raise ValueError(f"this model takes the organism group as input (n_groups={n_groups}); groups is None")
        if groups.shape != (batch,):
            raise ValueError(f"groups: expected shape ({batch},), got {tuple(groups.shape)}")
        if batch and (int(groups.min()) < 0 or int(groups.max()) >= n_groups):
            raise ValueError(f"group indices must lie in [0, {n_groups - 1}], got {groups.tolist()}")
    elif groups is not None:
        raise ValueError("this model was built without organism groups (n_groups=0); pass groups=None")
    return lengths


class GroupConcat(nn.Module):
    """Optional organism-group input: a learned embedding appended to the pooled vector.

    With `n_groups == 0` it has no parameters and passes the vector through, so
    models without the option keep the study's exact parameter count.
    """

    def __init__(self, n_groups: int, dim: int) -> None:
        super().__init__()
        self.n_groups = n_groups
        self.out_extra = dim if n_groups > 0 else 0
        self.embedding = nn.Embedding(n_groups, dim) if n_groups > 0 else None

    def forward(self, pooled: Tensor, groups: Tensor | None) -> Tensor:
        if self.embedding is None:
            return pooled
        group_vec = self.embedding(groups.to(pooled.device)).to(pooled.dtype)
        return torch.cat([pooled, group_vec], dim=-1)


class InputStandardization(nn.Module):
    """Per-feature z-scoring of one input, with statistics fitted once on the training residues.

    WHY: low-dimensional hand-made features (the demo's BLOSUM62 rows and profile
    columns, standard deviations 0.1-0.4) enter a Linear whose default random
    bias is of the same size as the per-residue signal (bias std 1/sqrt(3 * fan_in));
    after the LayerNorms every residue and protein then looks nearly alike and
    training first collapses to the class prior (docs/measurements.md, 2026-11-30
    session 5). Standardized inputs keep the residue-to-residue variation several
    times larger than the random offsets. The statistics are buffers, not
    parameters: saved with the weights, never trained, identity until `fit`.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    @torch.no_grad()
    def fit(self, proteins: Sequence[Tensor], min_std: float = 1e-3) -> None:
        """Mean and std of each feature over every residue of `proteins` ((L_i, dim) each).

        Accumulated protein by protein in float64 (no concatenated copy of a
        memory-mapped training set); a constant feature gets std `min_std`.
        """
        total = torch.zeros(self.mean.shape[0], dtype=torch.float64)
        squares = torch.zeros_like(total)
        count = 0
        for x in proteins:
            x = x.to(torch.float64)
            total += x.sum(0)
            squares += (x * x).sum(0)
            count += x.shape[0]
        if count == 0:
            raise ValueError("cannot fit input statistics on no residues")
        mean = total / count
        var = (squares / count - mean * mean).clamp(min=0.0)
        self.mean.copy_(mean.to(self.mean.dtype))
        self.std.copy_(var.sqrt().clamp(min=min_std).to(self.std.dtype))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
