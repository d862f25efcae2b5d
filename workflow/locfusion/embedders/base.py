"""Embedder interface and registry.

An embedder turns protein sequences into per-residue matrices (L x D). Each kind
(`onehot`, `blosum62`, `physchem`, `profile`, `esm2`, `prostt5`, `unirep`) registers a
factory under its name; the workflow builds embedders from the config's
`embedders:` section by kind, so new models plug in without touching rules.
"""

from __future__ import annotations

import abc
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError

# The 20 standard residues plus the ambiguity / rare codes every embedder must accept.
STANDARD_AA = "ACDEFGHIKLMNPQRSTVWY"
EXTRA_AA = "XUZBO"
VALID_AA = frozenset(STANDARD_AA + EXTRA_AA)


@dataclass(frozen=True)
class RuntimeOptions:
    """How to run an embedder: where, at which precision, with how many threads."""

    device: str = "cpu"  # resolved device: "cpu" or "cuda[:i]"
    precision: str = "fp32"  # resolved: "fp32", "bf16" or "fp16"
    threads: int = 1


class Embedder(abc.ABC):
    """Per-residue embedder. Subclasses set `kind`, `dim` and implement `embed_batch`.

    `max_residues` is the model's own length limit (None: unlimited); the store
    crops longer sequences (N- and C-terminal halves) before calling the model.
    """

    kind: str = ""
    dim: int = 0
    max_residues: int | None = None

    def __init__(self, name: str, spec: dict[str, Any], runtime: RuntimeOptions) -> None:
        self.name = name
        self.spec = dict(spec)
        self.runtime = runtime

    @abc.abstractmethod
    def embed_batch(self, sequences: Sequence[str]) -> list[np.ndarray]:
        """Embed a batch; return one float32 array of shape (len(seq), dim) per sequence."""

    def provenance(self) -> dict[str, Any]:
        """Attributes stored with every embedding: enough to reproduce or refuse it."""
        return {"embedder": self.name, "kind": self.kind, "dim": self.dim, **_flat_spec(self.spec)}


def _flat_spec(spec: dict[str, Any]) -> dict[str, Any]:
    return {f"spec.{k}": (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in spec.items() if v is not None}


EmbedderFactory = Callable[[str, dict[str, Any], RuntimeOptions], Embedder]
_REGISTRY: dict[str, EmbedderFactory] = {}


def register(kind: str) -> Callable[[type[Embedder]], type[Embedder]]:
    """Class decorator: make an `Embedder` subclass buildable by its kind name."""

    def decorate(cls: type[Embedder]) -> type[Embedder]:
        cls.kind = kind
        _REGISTRY[kind] = cls
        return cls

    return decorate


# Built-in kinds and the module that registers each; imported on first use so
# that the heavy optional dependencies (fair-esm, transformers) load only when needed.
_BUILTIN_MODULES: dict[str, str] = {
    "onehot": "features",
    "blosum62": "features",
    "physchem": "features",
    "profile": "features",
    "esm2": "esm2",
    "prostt5": "prostt5",
    "unirep": "unirep",
}


def available_kinds() -> list[str]:
    return sorted(set(_BUILTIN_MODULES) | set(_REGISTRY))


def build_embedder(name: str, spec: dict[str, Any], runtime: RuntimeOptions | None = None) -> Embedder:
    """Build the embedder named `name` from its config `spec` (which holds `kind`)."""
    kind = spec.get("kind")
    if kind not in _REGISTRY and kind in _BUILTIN_MODULES:
        try:
            importlib.import_module(f"{__package__}.{_BUILTIN_MODULES[kind]}")
        except ModuleNotFoundError as exc:
            raise InputError(
                f"embedder '{name}': kind '{kind}' needs the Python package '{exc.name}' "
                "(install the extras: pip install -e '.[plm]')"
            ) from exc
    if kind not in _REGISTRY:
        raise InputError(f"embedder '{name}': unknown kind '{kind}' (known: {', '.join(available_kinds())})")
    return _REGISTRY[kind](name, spec, runtime or RuntimeOptions())
