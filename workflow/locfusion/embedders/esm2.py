"""ESM-2 per-residue embeddings (fair-esm), from a model name or a local checkpoint.

Spec keys:
    model: an ESM-2 name such as `esm2_t33_650M_UR50D` (read from the torch hub
           cache, downloaded by fair-esm when absent) or the path of a local
           fair-esm checkpoint (`.pt`)  [default esm2_t33_650M_UR50D]
    layer: which layer's representation to return  [default: the last]

Checkpoints are read with `torch.load(weights_only=True)`, allowing only the
`argparse.Namespace` that fair-esm checkpoints store their config in, so a
model file cannot run code. That is why this module does not call
`esm.pretrained.load_model_and_alphabet_local` itself: under torch >= 2.6 it
fails on that Namespace, and it also refuses to load without the co-located
`-contact-regression.pt` file, which embeddings never use. The model is then
built by fair-esm's own `load_model_and_alphabet_core`, as upstream does.

ESM-2 was trained on at most 1022 residues plus BOS/EOS, hence `max_residues`;
the store crops longer proteins before they reach `embed_batch`.
"""

from __future__ import annotations

import argparse
import re
import types
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import esm
import numpy as np
import torch
import torch.nn.functional as F
from esm.model.esm2 import ESM2

from ..errors import InputError
from .base import Embedder, RuntimeOptions, register
from .torch_runtime import check_batch, cpu_bf16_supported, file_sha256, inference, precision_name, setup_torch

DEFAULT_MODEL = "esm2_t33_650M_UR50D"
_HUB_NAME = re.compile(r"^esm[\w.-]*$")


def _safe_load(path: Path) -> dict[str, Any]:
    """torch.load a fair-esm file without allowing arbitrary unpickling."""
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            data = torch.load(str(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError(f"ESM checkpoint not found: {path}") from None
    except Exception as exc:  # pickle.UnpicklingError, RuntimeError for non-torch files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: not a loadable fair-esm checkpoint with weights_only=True ({first})") from None
    if not isinstance(data, dict) or "model" not in data:
        raise InputError(f"{path}: not a fair-esm checkpoint (no 'model' state dict)")
    return data


def load_esm(model: str) -> tuple[torch.nn.Module, Any, dict[str, Any]]:
    """Load an ESM model by hub name or local path: (model in eval mode, alphabet, provenance)."""
    path = Path(model).expanduser()
    info: dict[str, Any] = {"model": model}
    if path.suffix == ".pt" or path.exists():
        source = path
    else:
        if not _HUB_NAME.match(model):
            raise InputError(f"ESM model '{model}' is neither a local checkpoint nor a fair-esm model name")
        source = Path(torch.hub.get_dir()) / "checkpoints" / f"{model}.pt"
        if not source.is_file():
            try:  # fair-esm's own download into the hub cache; the file is read back safely below
                esm.pretrained.load_model_and_alphabet_hub(model)
            except Exception as exc:
                if not source.is_file():  # (when it is, only fair-esm's own load failed: ours comes next)
                    raise InputError(
                        f"ESM model '{model}' is not in the torch hub cache ({source}) and could not be downloaded "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                        "download it where there is internet, or give the path of a local .pt checkpoint"
                    ) from None
    data = _safe_load(source)
    regression_file = source.with_name(f"{source.stem}-contact-regression.pt")
    regression = _safe_load(regression_file) if regression_file.is_file() else None
    # fair-esm picks the ESM-2 builder by name; a renamed ESM-2 file still has its `cfg`.
    core_name = source.stem if (source.stem.startswith("esm2") or "cfg" not in data) else f"esm2_{source.stem}"
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Regression weights not found")
            net, alphabet = esm.pretrained.load_model_and_alphabet_core(core_name, data, regression)
    except (RuntimeError, KeyError, AttributeError, ValueError) as exc:
        raise InputError(f"{source}: fair-esm could not build a model from it ({str(exc).splitlines()[0]})") from None
    if not isinstance(net, ESM2):
        raise InputError(f"{source}: a {type(net).__name__} checkpoint, not ESM-2 (kind 'esm2' embeds ESM-2 models)")
    info["checkpoint"] = str(source.resolve())
    info["checkpoint_sha256"] = file_sha256(source)
    return net.eval(), alphabet, info


def _fused_self_attention(self, query, key=None, value=None, key_padding_mask=None, incremental_state=None,
                          need_weights=True, static_kv=False, attn_mask=None, before_softmax=False,
                          need_head_weights=False):
    """fair-esm's rotary self-attention for inference, through `F.scaled_dot_product_attention`.

    Same maths as `esm.multihead_attention.MultiheadAttention.forward`, but the
    fused kernel never materialises the batch x heads x L x L score tensor (nor
    fair-esm's head-averaged copy of it, computed and discarded at every layer),
    which is most of the memory traffic on CPU once the matmuls run in bf16.
    Anything this path does not cover goes to the original method.
    """
    if (need_head_weights or before_softmax or incremental_state is not None or attn_mask is not None
            or self.training or self.bias_k is not None or self.add_zero_attn
            or not (self.self_attention or (key is query and value is query))):
        return type(self).forward(self, query, key, value, key_padding_mask, incremental_state, need_weights,
                                  static_kv, attn_mask, before_softmax, need_head_weights)
    length, batch, dim = query.size()
    heads, head_dim = self.num_heads, self.head_dim

    def split(x):  # (L, B, H*d) -> (B*H, L, d), fair-esm's layout (rotary expects it)
        return x.reshape(length, batch * heads, head_dim).transpose(0, 1)

    q, k, v = split(self.q_proj(query)), split(self.k_proj(query)), split(self.v_proj(query))
    if self.rot_emb is not None:
        q, k = self.rot_emb(q, k)
    keep = None if key_padding_mask is None else ~key_padding_mask.bool()[:, None, None, :]
    shape = (batch, heads, length, head_dim)
    out = F.scaled_dot_product_attention(q.reshape(shape), k.reshape(shape), v.reshape(shape), attn_mask=keep)
    out = out.reshape(batch * heads, length, head_dim).transpose(0, 1).reshape(length, batch, dim)
    return self.out_proj(out), None


def use_fused_attention(model: torch.nn.Module, alphabet: Any) -> bool:
    """Route every self-attention of `model` through `_fused_self_attention`, if it gives the same result.

    Checked once on a short padded batch in fp32 against fair-esm's own code, so
    a fair-esm version with other internals keeps its original attention.
    """
    attentions = [layer.self_attn for layer in model.layers]
    tokens = alphabet.get_batch_converter()([("a", "MKTAYIAKQR"), ("b", "MSTNPK")])[2]
    with torch.inference_mode():
        want = model(tokens, repr_layers=[model.num_layers])["representations"][model.num_layers]
        for attn in attentions:
            attn.forward = types.MethodType(_fused_self_attention, attn)
        try:
            got = model(tokens, repr_layers=[model.num_layers])["representations"][model.num_layers]
            ok = got.shape == want.shape and torch.allclose(got, want, atol=1e-4, rtol=1e-4)
        except Exception:  # any incompatibility: keep fair-esm's own attention
            ok = False
    if not ok:
        for attn in attentions:
            del attn.forward
    return ok


@register("esm2")
class ESM2Embedder(Embedder):
    """Per-residue representations of one ESM-2 layer, without the BOS and EOS rows."""

    max_residues = 1022

    def __init__(self, name: str, spec: dict[str, Any], runtime: RuntimeOptions) -> None:
        super().__init__(name, spec, runtime)
        self.device, dtype = setup_torch(runtime, name)
        model_ref = str(spec.get("model") or DEFAULT_MODEL)
        self.model, self.alphabet, self._info = load_esm(model_ref)
        n_layers = int(self.model.num_layers)
        layer = spec.get("layer")
        self.layer = n_layers if layer is None else int(layer)
        if not 0 <= self.layer <= n_layers:
            raise InputError(f"embedder '{name}': layer {layer} out of range for {model_ref} (0..{n_layers})")
        self.dim = int(self.model.embed_dim)
        self.batch_converter = self.alphabet.get_batch_converter()
        self.fused_attention = use_fused_attention(self.model, self.alphabet)
        # fp16 on GPU: weights cast once. bf16 on CPU: autocast, which keeps the
        # residual stream and layer norms in fp32 (a 33-layer bf16 residual
        # stream drifts) while the matmuls run on the native bf16 units.
        if dtype == torch.bfloat16 and self.device.type == "cpu" and not cpu_bf16_supported():
            dtype = torch.float32
        self.autocast_dtype = torch.float32
        if self.device.type == "cuda" and dtype != torch.float32:
            self.model = self.model.to(dtype)
        else:
            self.autocast_dtype = dtype
        self.dtype = dtype
        self.model = self.model.to(self.device)

    def embed_batch(self, sequences: Sequence[str]) -> list[np.ndarray]:
        seqs = check_batch(self.name, sequences, self.max_residues)
        if not seqs:
            return []
        _, _, tokens = self.batch_converter([(str(i), s) for i, s in enumerate(seqs)])
        offset = int(self.alphabet.prepend_bos)
        with inference(self.device, self.autocast_dtype):
            reps = self.model(tokens.to(self.device), repr_layers=[self.layer])["representations"][self.layer]
        reps = reps.float().cpu()
        # Each sequence's own rows: after BOS, before its EOS and the padding.
        return [reps[i, offset : offset + len(s)].numpy().copy() for i, s in enumerate(seqs)]

    identity_keys = ("layer",)

    def provenance(self) -> dict[str, Any]:
        return {
            **super().provenance(),
            "model": self._info["model"],
            "checkpoint": self._info["checkpoint"],
            "checkpoint_sha256": self._info["checkpoint_sha256"],
            "layer": self.layer,
            "precision": precision_name(self.dtype),
            "fair_esm_version": esm.__version__,
        }
