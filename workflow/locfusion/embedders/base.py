"""Embedder interface and registry.

An embedder turns protein sequences into per-residue matrices (L x D). Each kind
(`onehot`, `blosum62`, `physchem`, `profile`, `esm2`, `esmc`, `prostt5`, `prostt5_3di`, `unirep`, `near`) registers a
factory under its name; the workflow builds embedders from the config's
`embedders:` section by kind, so new models plug in without touching rules.
"""

from __future__ import annotations

import abc
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
    # Provenance keys (beyond kind, dim, spec.* and any *_sha256 checksum) that define the numbers:
    # a bundle refuses an embedder that disagrees on one (e.g. ESM-2's layer). Declared per kind.
    identity_keys: tuple[str, ...] = ()
    # Names of the per-protein text a kind derives on the way to its numbers and that is worth
    # keeping beside them (prostt5_3di: the 3Di translation); `embed_with_side` returns it.
    side_attrs: tuple[str, ...] = ()

    def __init__(self, name: str, spec: dict[str, Any], runtime: RuntimeOptions) -> None:
        self.name = name
        self.spec = dict(spec)
        self.runtime = runtime

    @abc.abstractmethod
    def embed_batch(self, sequences: Sequence[str]) -> list[np.ndarray]:
        """Embed a batch; return one float32 array of shape (len(seq), dim) per sequence."""

    def embed_with_side(self, sequences: Sequence[str]) -> tuple[list[np.ndarray], list[dict[str, str]]]:
        """`embed_batch` plus, per sequence, its `side_attrs` texts (none unless the kind declares some).

        The store calls this so that side texts land with the embedding they made (same crop,
        same provenance); kinds with side texts override it and derive `embed_batch` from it.
        """
        return self.embed_batch(sequences), [{} for _ in sequences]

    def provenance(self) -> dict[str, Any]:
        """Attributes stored with every embedding: enough to reproduce or refuse it."""
        return {"embedder": self.name, "kind": self.kind, "dim": self.dim, **_flat_spec(self.spec),
                "identity_keys": ",".join(self.identity_keys)}


def _flat_spec(spec: dict[str, Any]) -> dict[str, Any]:
    return {f"spec.{k}": (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in spec.items() if v is not None}


EmbedderFactory = Callable[[str, dict[str, Any], RuntimeOptions], Embedder]
_REGISTRY: dict[str, EmbedderFactory] = {}
_SPEC_KEYS: dict[str, frozenset[str]] = {}

# Keys every spec may hold, whatever its kind: the kind itself and the batch size of its embed jobs.
COMMON_SPEC_KEYS = frozenset({"kind", "tokens_per_batch"})
# Spec keys that set speed, not numbers: recorded in provenance, never part of an embedder's identity
# (a bundle trained with 1,024 tokens per batch on a CPU predicts with 16,384 on a GPU).
RUNTIME_SPEC_KEYS = frozenset({"tokens_per_batch"})

# Built-in kinds: the module that registers each, imported on first use so that the heavy
# optional dependencies (fair-esm, transformers) load only when needed, and the spec keys each
# reads beside COMMON_SPEC_KEYS. Declared here rather than on the classes so that a config can be
# checked (a misspelled `scales` is an error, not a silent default) without importing torch.
_BUILTINS: dict[str, tuple[str, frozenset[str]]] = {
    "onehot": ("features", frozenset()),
    "blosum62": ("features", frozenset()),
    "physchem": ("features", frozenset({"scales"})),
    "profile": ("features", frozenset({"scales", "windows", "termini", "moments"})),
    "esm2": ("esm2", frozenset({"model", "layer"})),
    "esmc": ("esmc", frozenset({"model"})),
    "prostt5": ("prostt5", frozenset({"model"})),
    "prostt5_3di": (
        "prostt5_3di",
        frozenset({"model", "num_beams", "do_sample", "temperature", "top_k", "top_p", "repetition_penalty", "seed"}),
    ),
    "unirep": ("unirep", frozenset({"size", "weights"})),
    "near": ("near", frozenset({"weights"})),
}


def register(kind: str, spec_keys: Sequence[str] | None = None) -> Callable[[type[Embedder]], type[Embedder]]:
    """Class decorator: make an `Embedder` subclass buildable by its kind name.

    `spec_keys`: the spec keys the kind reads beside COMMON_SPEC_KEYS; a built-in kind's
    come from `_BUILTINS`, a new kind must name its own (none if it reads none).
    """
    if kind in _BUILTINS:
        keys = _BUILTINS[kind][1]
        if spec_keys is not None and frozenset(spec_keys) != keys:
            raise AssertionError(f"built-in embedder kind '{kind}' declares its spec keys in _BUILTINS")
    else:
        keys = frozenset(spec_keys or ())

    def decorate(cls: type[Embedder]) -> type[Embedder]:
        cls.kind = kind
        _REGISTRY[kind] = cls
        _SPEC_KEYS[kind] = keys
        return cls

    return decorate


def available_kinds() -> list[str]:
    return sorted(set(_BUILTINS) | set(_REGISTRY))


def check_spec_keys(name: str, spec: dict[str, Any]) -> None:
    """Refuse a spec key its kind does not read (a typo would otherwise run with the default)."""
    kind = spec.get("kind")
    keys = _BUILTINS[kind][1] if kind in _BUILTINS else _SPEC_KEYS.get(kind)
    if keys is None:
        raise InputError(f"embedder '{name}': unknown kind '{kind}' (known: {', '.join(available_kinds())})")
    valid = COMMON_SPEC_KEYS | keys
    unknown = sorted(set(spec) - valid)
    if unknown:
        raise InputError(
            f"embedder '{name}': unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
            f"for kind '{kind}' (valid: {', '.join(sorted(valid))})"
        )


def build_embedder(name: str, spec: dict[str, Any], runtime: RuntimeOptions | None = None) -> Embedder:
    """Build the embedder named `name` from its config `spec` (which holds `kind`)."""
    kind = spec.get("kind")
    check_spec_keys(name, spec)
    if kind not in _REGISTRY and kind in _BUILTINS:
        try:
            importlib.import_module(f"{__package__}.{_BUILTINS[kind][0]}")
        except ModuleNotFoundError as exc:
            raise InputError(
                f"embedder '{name}': kind '{kind}' needs the Python package '{exc.name}' "
                "(install the extras: pip install -e '.[plm]')"
            ) from exc
    if kind not in _REGISTRY:
        raise InputError(f"embedder '{name}': unknown kind '{kind}' (known: {', '.join(available_kinds())})")
    return _REGISTRY[kind](name, spec, runtime or RuntimeOptions())
