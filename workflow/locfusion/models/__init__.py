"""Classifiers over per-residue embeddings: build one by kind from the config.

    from locfusion.models import build_model, count_parameters
    model = build_model("fusion", [1280, 1024], {"dropout": 0.2})
    logits = model(inputs, lengths, groups=None)  # (B, n_classes)

Every model takes `inputs` (one zero-padded (B, L, D_i) tensor per embedder),
`lengths` ((B,) int64, CPU) and optional `groups` ((B,) int64, when built with
`n_groups > 0`), and ignores padding: a protein's logits do not depend on the
other proteins in its batch.

Every built-in model also has `explain(inputs, lengths, groups)`, returning the
same logits (one shared code path, bit-identical) and a dict of what it weighed
per residue: "attention" (B, heads, L) and, for a gated fusion, "gate" (B, L, N).
`locfusion.explain` writes and draws them.
"""

from __future__ import annotations

from typing import Any

from .registry import (
    available_models,
    build_model,
    count_parameters,
    default_params,
    register_model,
    registered_kinds,
)

__all__ = [
    "ATTENTION_POOLING_DEFAULTS",
    "FUSION_DEFAULTS",
    "MODEL_DEFAULTS",
    "MODEL_KINDS",
    "AttentionPoolingNetwork",
    "FusionNetwork",
    "available_models",
    "build_model",
    "count_parameters",
    "default_params",
    "register_model",
    "registered_kinds",
]

_LAZY = {
    "ATTENTION_POOLING_DEFAULTS": "attention_pooling",
    "AttentionPoolingNetwork": "attention_pooling",
    "FUSION_DEFAULTS": "fusion",
    "FusionNetwork": "fusion",
}


def __getattr__(name: str) -> Any:
    """The model classes and tables, imported (with torch) on first access, not with the package."""
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    if name == "MODEL_KINDS":
        return registered_kinds()
    if name == "MODEL_DEFAULTS":  # default hyperparameters per kind, for docs; a fresh copy each time
        return {kind: default_params(kind) for kind in registered_kinds()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
