"""`fusion`: the study's ImprovedFusionNetwork, generalized to N >= 1 embedders.

Per-residue embeddings from several protein language models are fused
position by position (cross-attention + a learned gate), read in context by a
BiLSTM, summarized by multi-head attention pooling and classified by an MLP:

    inputs (B, L, D_i) --CrossAttentionFusion--> (B, L, hidden)
        --BiLSTM-------> (B, L, 2*lstm_hidden) --MultiHeadAttentionPooling--> (B, 2*lstm_hidden)
        [--GroupConcat: + organism group embedding--] --classifier--> (B, n_classes)

With the study's inputs (ESM-2 650M, 1280-d; ProstT5, 1024-d) and defaults it
has exactly 8,412,936 trainable parameters: cross-attention 4,071,426,
BiLSTM 3,154,944, pooling 789,504, classifier 397,062.

Generalization beyond two inputs: all inputs are per-residue embeddings of the
same sequence (same L), so input i queries the mean of the *other* inputs'
projections (for two inputs that is exactly "A queries B, B queries A"); a single
input attends to itself, and its fusion gate is dropped because a softmax over
one input is constant. The gate maps the N concatenated attended streams
(N*hidden) through hidden to N mixing weights per position.

Organism group (option, off in the study): a learned `group_dim` embedding of
the group index is concatenated to the pooled vector, widening only the
classifier's first Linear; with `n_groups=0` the model is the study's exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn
from torch import Tensor

from .layers import GroupConcat, InputStandardization, check_forward_inputs, length_mask, masked_softmax
from .registry import register_model

FUSION_DEFAULTS: dict[str, Any] = {
    "hidden_dim": 512,  # projection / fusion width
    "attention_heads": 8,  # heads of each cross-attention
    "lstm_hidden": 256,  # per direction; the BiLSTM output is 2 * lstm_hidden
    "lstm_layers": 2,
    "pool_heads": 4,  # attention pooling heads (head dim = 2 * lstm_hidden / pool_heads)
    "classifier_hidden": 256,  # classifier: pooled -> hidden_dim -> classifier_hidden -> classes
    "dropout": 0.2,
    "group_dim": 16,  # organism group embedding size (used only when n_groups > 0)
    # Beyond the study (off there): z-score each input feature with statistics of the training
    # residues (buffers, no parameters) before the projections; for low-dimensional hand-made
    # features such as the demo's (layers.InputStandardization says why).
    "standardize_inputs": False,
}


def _check(p: Mapping[str, Any]) -> str | None:
    if p["hidden_dim"] % p["attention_heads"]:
        return f"hidden_dim ({p['hidden_dim']}) must be divisible by attention_heads ({p['attention_heads']})"
    if (2 * p["lstm_hidden"]) % p["pool_heads"]:
        return f"2 * lstm_hidden ({2 * p['lstm_hidden']}) must be divisible by pool_heads ({p['pool_heads']})"
    return None


class CrossAttentionFusion(nn.Module):
    """Project each input to `hidden`, let each attend to the others, gate-mix per position."""

    def __init__(self, input_dims: Sequence[int], hidden: int, heads: int, dropout: float) -> None:
        super().__init__()
        n = len(input_dims)
        self.projections = nn.ModuleList(nn.Linear(d, hidden) for d in input_dims)
        self.attentions = nn.ModuleList(nn.MultiheadAttention(hidden, heads, batch_first=True) for _ in range(n))
        self.gate = (
            nn.Sequential(nn.Linear(n * hidden, hidden), nn.ReLU(), nn.Linear(hidden, n)) if n > 1 else None
        )
        self.output = nn.Sequential(nn.Linear(hidden, hidden), nn.LayerNorm(hidden), nn.ReLU(), nn.Dropout(dropout))

    def forward(self, inputs: Sequence[Tensor], padding: Tensor, record: dict[str, Tensor] | None = None) -> Tensor:
        """`padding`: (B, L) bool, True at padded positions (the keys no query may see).

        `record`, when given, receives the gate's softmax weights as "gate" ((B, L, N), one
        weight per input; absent for a single input, which has no gate). Recording reads a
        tensor the forward pass computes anyway, so the output is the same bits either way.
        """
        projected = [proj(x) for proj, x in zip(self.projections, inputs)]
        attended = []
        for i, (query, attention) in enumerate(zip(projected, self.attentions)):
            others = [p for j, p in enumerate(projected) if j != i] or [query]
            context = others[0] if len(others) == 1 else torch.stack(others).mean(dim=0)
            out, _ = attention(query, context, context, key_padding_mask=padding, need_weights=False)
            attended.append(out + query)
        if self.gate is None:
            fused = attended[0]
        else:
            weights = torch.softmax(self.gate(torch.cat(attended, dim=-1)), dim=-1)
            if record is not None:
                record["gate"] = weights.detach().float()
            fused = sum(weights[..., i : i + 1] * a for i, a in enumerate(attended))
        return self.output(fused)


def reverse_within_lengths(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each row's first `lengths[b]` positions, leaving its padding in place.

    Its own inverse. Lets a forward-running LSTM read a protein C- to N-terminus
    with the padding still at the end, where it cannot reach any real residue.
    """
    return _gather_positions(x, reversal_index(lengths, x.shape[1], x.device))


def reversal_index(lengths: Tensor, length: int, device: torch.device) -> Tensor:
    """(B, length) positions that `reverse_within_lengths` reads: computed once per batch."""
    positions = torch.arange(length, device=device).unsqueeze(0).expand(lengths.shape[0], length)
    last = (lengths.to(device) - 1).unsqueeze(1)
    return torch.where(positions <= last, last - positions, positions)


def _gather_positions(x: Tensor, index: Tensor) -> Tensor:
    return x.gather(1, index.unsqueeze(-1).expand_as(x))


class BiLSTM(nn.Module):
    """Stacked bidirectional LSTM over each protein's own residues only, then LayerNorm.

    The study's `pack_padded_sequence` BiLSTM, computed without packing: packed
    input sends PyTorch's CPU LSTM down a per-time-step path that ran 8x slower
    (forward + backward) than the fused oneDNN kernel used for padded input
    (benchmarks/train.py). Correctness without packing: the forward direction
    reads padded rows left to right, so the padding (at the end) never reaches a
    real residue; the backward direction reads each row reversed within its own
    length (`reverse_within_lengths`), so it too starts at the protein's last
    residue, not in the padding. Outputs at padded positions are zeroed, as
    `pad_packed_sequence` did. Same parameters as `nn.LSTM(bidirectional=True)`:
    one unidirectional LSTM per layer and direction.

    The recurrence runs in float32 even under autocast: the cell state is a
    running sum over up to ~1000 steps, which bfloat16's 8-bit mantissa degrades.
    """

    def __init__(self, input_dim: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.hidden_size, self.num_layers, self.dropout = hidden, layers, dropout if layers > 1 else 0.0
        self.layers = nn.ModuleList(
            nn.ModuleList(nn.LSTM(input_dim if i == 0 else 2 * hidden, hidden, batch_first=True) for _ in range(2))
            for i in range(layers)
        )
        self.inter_layer_dropout = nn.Dropout(self.dropout)
        self.norm = nn.LayerNorm(2 * hidden)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        """`x`: (B, L, D) zero-padded; `lengths`: (B,) int64."""
        valid = length_mask(lengths, x.shape[1], device=x.device).unsqueeze(-1)
        reverse = reversal_index(lengths, x.shape[1], x.device)  # shared by every layer, both ways
        with torch.autocast(device_type=x.device.type, enabled=False):
            out = x.float()
            for i, (forward_lstm, backward_lstm) in enumerate(self.layers):
                if i:
                    out = self.inter_layer_dropout(out)
                ahead, _ = forward_lstm(out)
                behind, _ = backward_lstm(_gather_positions(out, reverse))
                out = torch.cat([ahead, _gather_positions(behind, reverse)], dim=-1)
            out = out * valid
        return self.norm(out)


class MultiHeadAttentionPooling(nn.Module):
    """Pool (B, L, dim) to (B, dim): each head's learnable query scores the valid positions."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.query = nn.Parameter(torch.randn(heads, self.head_dim) / math.sqrt(self.head_dim))
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.output = nn.Sequential(nn.Linear(dim, dim), nn.LayerNorm(dim), nn.Dropout(dropout))

    def forward(self, x: Tensor, mask: Tensor, record: dict[str, Tensor] | None = None) -> Tensor:
        """`mask`: (B, L) bool, True at valid residues; `record` receives "attention" (B, H, L)."""
        batch, length, _ = x.shape
        keys = self.key(x).view(batch, length, self.heads, self.head_dim)
        values = self.value(x).view(batch, length, self.heads, self.head_dim)
        scores = torch.einsum("blhd,hd->bhl", keys, self.query.to(keys.dtype)) / math.sqrt(self.head_dim)
        weights = masked_softmax(scores, mask.unsqueeze(1), dim=-1)  # (B, H, L)
        if record is not None:
            record["attention"] = weights.detach()
        pooled = torch.einsum("bhl,blhd->bhd", weights.to(values.dtype), values)
        return self.output(pooled.reshape(batch, self.heads * self.head_dim))


@register_model("fusion", FUSION_DEFAULTS, check=_check)
class FusionNetwork(nn.Module):
    """ImprovedFusionNetwork: cross-attention fusion -> BiLSTM -> attention pooling -> MLP."""

    def __init__(self, input_dims: Sequence[int], params: Mapping[str, Any], n_classes: int, n_groups: int) -> None:
        super().__init__()
        self.input_dims = tuple(input_dims)
        self.n_groups = n_groups
        hidden, dropout = params["hidden_dim"], params["dropout"]
        pooled_dim = 2 * params["lstm_hidden"]
        self.input_scaling = (
            nn.ModuleList(InputStandardization(d) for d in self.input_dims) if params["standardize_inputs"] else None
        )
        self.cross_attention = CrossAttentionFusion(self.input_dims, hidden, params["attention_heads"], dropout)
        self.bilstm = BiLSTM(hidden, params["lstm_hidden"], params["lstm_layers"], dropout)
        self.pooling = MultiHeadAttentionPooling(pooled_dim, params["pool_heads"], dropout)
        self.group_input = GroupConcat(n_groups, params["group_dim"])
        mid = params["classifier_hidden"]
        self.classifier = nn.Sequential(
            nn.Linear(pooled_dim + self.group_input.out_extra, hidden),
            nn.LayerNorm(hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, mid),
            nn.LayerNorm(mid),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(mid, n_classes),
        )

    def fit_input_statistics(self, features: Sequence[Sequence[Tensor]]) -> None:
        """With `standardize_inputs`: fit each input's statistics on the training proteins
        (`features[i]`: input i's (L, D_i) arrays); training calls it once, before the first step."""
        if self.input_scaling is not None:
            for scale, proteins in zip(self.input_scaling, features):
                scale.fit(proteins)

    def forward(self, inputs: Sequence[Tensor], lengths: Tensor, groups: Tensor | None = None) -> Tensor:
        return self._run(inputs, lengths, groups, None)

    def explain(self, inputs: Sequence[Tensor], lengths: Tensor,
                groups: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """Logits and what the model weighed: "attention" (B, pool_heads, L), each head's
        softmax over the protein's residues (zero beyond its length), and, with more than one
        input, "gate" (B, L, N), the fusion gate's softmax over the inputs at each residue.

        The same computation as `forward` (one shared code path), so the logits are
        bit-identical to `forward`'s on the same batch.
        """
        record: dict[str, Tensor] = {}
        return self._run(inputs, lengths, groups, record), record

    def _run(self, inputs: Sequence[Tensor], lengths: Tensor, groups: Tensor | None,
             record: dict[str, Tensor] | None) -> Tensor:
        lengths = check_forward_inputs(inputs, lengths, self.input_dims, groups, self.n_groups)
        valid = length_mask(lengths, inputs[0].shape[1], device=inputs[0].device)
        if self.input_scaling is not None:
            inputs = [scale(x) for scale, x in zip(self.input_scaling, inputs)]
        fused = self.cross_attention(inputs, ~valid, record)
        context = self.bilstm(fused, lengths)
        pooled = self.pooling(context, valid, record)
        return self.classifier(self.group_input(pooled, groups))
