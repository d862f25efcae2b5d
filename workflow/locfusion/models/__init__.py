"""Classifiers over per-residue embeddings: build one by kind from the config.

    from locfusion.models import build_model, count_parameters
    model = build_model("fusion", [1280, 1024], {"dropout": 0.2})
    logits = model(inputs, lengths, groups=None)  # (B, n_classes)

Every model takes `inputs` (one zero-padded (B, L, D_i) tensor per embedder),
`lengths` ((B,) int64, CPU) and optional `groups` ((B,) int64, when built with
`n_groups > 0`), and ignores padding: a protein's logits do not depend on the
other proteins in its batch.
"""

from __future__ import annotations

from . import attention_pooling, fusion  # noqa: F401  (registers the built-in kinds)
from .attention_pooling import ATTENTION_POOLING_DEFAULTS, AttentionPoolingNetwork
from .fusion import FUSION_DEFAULTS, FusionNetwork
from .registry import build_model, count_parameters, default_params, register_model, registered_kinds

MODEL_KINDS: tuple[str, ...] = registered_kinds()
# Default hyperparameters per kind, for the config schema and docs.
MODEL_DEFAULTS: dict[str, dict] = {kind: default_params(kind) for kind in MODEL_KINDS}

__all__ = [
    "ATTENTION_POOLING_DEFAULTS",
    "FUSION_DEFAULTS",
    "MODEL_DEFAULTS",
    "MODEL_KINDS",
    "AttentionPoolingNetwork",
    "FusionNetwork",
    "build_model",
    "count_parameters",
    "default_params",
    "register_model",
]
