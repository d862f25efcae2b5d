"""Embedders: per-residue protein representations, built by kind from the config."""

from .base import VALID_AA, Embedder, RuntimeOptions, available_kinds, build_embedder, check_spec_keys, register

__all__ = ["VALID_AA", "Embedder", "RuntimeOptions", "available_kinds", "build_embedder", "check_spec_keys", "register"]
