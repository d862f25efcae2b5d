"""Model registry: build a classifier from its config `kind` and hyperparameters.

Each model kind registers its class with its default hyperparameters, so the
config schema and docs can list them and the training code builds any model
through one call. Hyperparameters are checked here (unknown names, wrong types,
out-of-range values) so that a typo in the config stops with one clear line
instead of silently training the default model.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import InputError, number_as_text_hint

if TYPE_CHECKING:  # torch only when a model is built: config validation lists the kinds without it
    import torch.nn as nn

# A model class is built as cls(input_dims, params, n_classes, n_groups) and returns an nn.Module.
ModelFactory = Callable[[Sequence[int], Mapping[str, Any], int, int], Any]

# Built-in kinds and the module (in this package) that registers each: imported on first use, so
# that the config schema can list every kind (`available_models`) without importing torch. A new
# model is one module with `@register_model(kind, defaults)` plus one line here.
_BUILTINS: dict[str, str] = {
    "attention_pooling": "attention_pooling",
    "fusion": "fusion",
}


@dataclass(frozen=True)
class ModelSpec:
    kind: str
    factory: ModelFactory
    defaults: Mapping[str, Any]
    # Extra cross-parameter checks (e.g. divisibility); return an error text or None.
    check: Callable[[Mapping[str, Any]], str | None] | None = None


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    kind: str,
    defaults: Mapping[str, Any],
    check: Callable[[Mapping[str, Any]], str | None] | None = None,
) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator: make a model buildable by `kind` with these default hyperparameters."""

    def decorate(cls: type[nn.Module]) -> type[nn.Module]:
        _REGISTRY[kind] = ModelSpec(kind, cls, dict(defaults), check)
        cls.kind = kind  # type: ignore[attr-defined]
        return cls

    return decorate


def available_models() -> tuple[str, ...]:
    """Every model kind a config may name: the built-ins and any registered since."""
    return tuple(sorted(set(_BUILTINS) | set(_REGISTRY)))


def registered_kinds() -> tuple[str, ...]:
    """Every model kind, each module imported (registered)."""
    for kind in available_models():
        _spec(kind)
    return tuple(sorted(_REGISTRY))


def default_params(kind: str) -> dict[str, Any]:
    """A copy of the default hyperparameters of model `kind`."""
    return dict(_spec(kind).defaults)


def resolve_params(kind: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults overridden by `params`, each value checked against its default's type.

    Integers must be >= 1 and `dropout` must lie in [0, 1); a float default
    accepts an int (e.g. `dropout: 0`), an int default does not accept a float.
    """
    spec = _spec(kind)
    params = dict(params or {})
    unknown = sorted(set(params) - set(spec.defaults))
    if unknown:
        raise InputError(
            f"model '{kind}': unknown hyperparameter '{unknown[0]}' "
            f"(known: {', '.join(sorted(spec.defaults))})"
        )
    resolved = {**spec.defaults, **params}
    for key, value in resolved.items():
        default = spec.defaults[key]
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if isinstance(default, bool):
            ok, expected = isinstance(value, bool), "true or false"
        elif isinstance(default, int):
            ok, expected = isinstance(value, int) and is_number and value >= 1, "an integer >= 1"
        elif isinstance(default, float) and key == "dropout":
            ok, expected = is_number and 0.0 <= value < 1.0, "a number in [0, 1)"
        elif isinstance(default, float):
            ok, expected = is_number and value >= 0.0, "a number >= 0"
        else:
            ok, expected = isinstance(value, type(default)), f"a {type(default).__name__}"
        if not ok:
            raise InputError(
                f"model '{kind}': hyperparameter '{key}' must be {expected} (default {default!r}), "
                f"got {value!r}{number_as_text_hint(value)}"
            )
        if isinstance(default, float):
            resolved[key] = float(value)
    if spec.check is not None:
        problem = spec.check(resolved)
        if problem:
            raise InputError(f"model '{kind}': {problem}")
    return resolved


def build_model(
    kind: str,
    input_dims: Sequence[int],
    params: Mapping[str, Any] | None = None,
    n_classes: int = 6,
    n_groups: int = 0,
) -> nn.Module:
    """Build model `kind` for inputs of feature sizes `input_dims` (one per embedder).

    `n_groups > 0` adds the organism group (index in [0, n_groups)) as an input.
    """
    spec = _spec(kind)
    dims = list(input_dims)
    if not dims or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in dims):
        raise InputError(f"model '{kind}': input_dims must be one or more positive integers, got {dims!r}")
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
        raise InputError(f"model '{kind}': n_classes must be an integer >= 2, got {n_classes!r}")
    if isinstance(n_groups, bool) or not isinstance(n_groups, int) or n_groups < 0:
        raise InputError(f"model '{kind}': n_groups must be an integer >= 0, got {n_groups!r}")
    return spec.factory(dims, resolve_params(kind, params), n_classes, n_groups)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (those with requires_grad)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _spec(kind: str) -> ModelSpec:
    if kind not in _REGISTRY and kind in _BUILTINS:
        importlib.import_module(f"{__package__}.{_BUILTINS[kind]}")
    if kind not in _REGISTRY:
        raise InputError(f"unknown model kind '{kind}' (known: {', '.join(available_models())})")
    return _REGISTRY[kind]
