"""ProstT5 per-residue embeddings (transformers T5 encoder) in amino-acid mode.

Spec keys:
    model: Hugging Face id (read from the local HF cache, downloaded when absent
           and the hub is reachable) or a local model directory  [default Rostlab/ProstT5]

Input follows the ProstT5 model card: rare residues U/Z/O/B become X, residues
are space-separated (one token each) and prefixed by `<AA2fold>`, which tells
the model the input is sequence, not 3Di structure. The tokenizer appends
`</s>`; both the prefix and `</s>` rows are dropped, leaving L rows.

Precision: fp16 on GPU (as the ProstT5 authors run it), fp32 on CPU unless bf16
is asked for and the CPU has native bf16 (then the weights are loaded in bf16:
T5 was trained in bf16). The precision actually used is in the provenance.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers
from transformers import AutoTokenizer, T5EncoderModel

from ..errors import InputError
from .base import Embedder, RuntimeOptions, register
from .torch_runtime import check_batch, cpu_bf16_supported, directory_sha256, precision_name, setup_torch

DEFAULT_MODEL = "Rostlab/ProstT5"
AA_PREFIX = "<AA2fold>"
_RARE = re.compile(r"[UZOB]")


def prostt5_input(sequence: str) -> str:
    """The text ProstT5 reads for one protein in AA mode: `<AA2fold> M K X ...`."""
    return f"{AA_PREFIX} " + " ".join(_RARE.sub("X", sequence))


def load_prostt5(name: str, spec: dict[str, Any], runtime: RuntimeOptions, model_class: type,
                 what: str = "ProstT5") -> tuple[Any, Any, dict[str, Any]]:
    """Tokenizer, model (on its device, eval) and how it was found, for both ProstT5 kinds.

    One home for what `prostt5` (encoder) and `prostt5_3di` (encoder-decoder) share: the
    model reference (a Hugging Face id or a local directory), the precision (fp32 on CPUs
    without native bf16, whatever was asked), and one error line when it cannot be loaded.
    The returned dict holds device, dtype, model_ref, local_dir and the loader's
    `loading` info (missing keys), which `prostt5_3di` checks for an absent decoder.
    """
    device, dtype = setup_torch(runtime, name)
    if device.type == "cpu" and not (dtype == torch.bfloat16 and cpu_bf16_supported()):
        dtype = torch.float32
    model_ref = str(spec.get("model") or DEFAULT_MODEL)
    local = Path(model_ref).expanduser()
    local_dir = local if local.is_dir() else None
    source = str(local) if local_dir else model_ref
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, do_lower_case=False)
        model, loading = model_class.from_pretrained(source, dtype=dtype, output_loading_info=True)
    except (OSError, ValueError) as exc:
        where = "directory" if local_dir else "Hugging Face id (not in the local cache and the hub unreachable?)"
        raise InputError(
            f"embedder '{name}': cannot load {what} from {where} '{model_ref}' ({str(exc).splitlines()[0]})"
        ) from None
    found = {"device": device, "dtype": dtype, "model_ref": model_ref, "local_dir": local_dir, "loading": loading}
    return tokenizer, model.to(device).eval(), found


@register("prostt5")
class ProstT5Embedder(Embedder):
    """Per-residue last-layer states of the ProstT5 encoder, without the prefix and end rows."""

    max_residues = None  # relative position buckets: no hard limit; the store may still crop

    def __init__(self, name: str, spec: dict[str, Any], runtime: RuntimeOptions) -> None:
        super().__init__(name, spec, runtime)
        self.tokenizer, self.model, found = load_prostt5(name, spec, runtime, T5EncoderModel)
        self.device, self.dtype = found["device"], found["dtype"]
        self.model_ref, self.local_dir = found["model_ref"], found["local_dir"]
        self.dim = int(self.model.config.d_model)
        self.prefix_id = self.tokenizer.convert_tokens_to_ids(AA_PREFIX)
        if self.prefix_id is None or self.prefix_id == self.tokenizer.unk_token_id:
            raise InputError(f"embedder '{name}': tokenizer of '{self.model_ref}' has no {AA_PREFIX} token (not ProstT5?)")

    def embed_batch(self, sequences: Sequence[str]) -> list[np.ndarray]:
        seqs = check_batch(self.name, sequences, self.max_residues)
        if not seqs:
            return []
        enc = self.tokenizer(
            [prostt5_input(s) for s in seqs], add_special_tokens=True, padding="longest", return_tensors="pt"
        )
        n_tokens = enc["attention_mask"].sum(dim=1).tolist()
        for i, (s, n) in enumerate(zip(seqs, n_tokens)):
            # prefix + one token per residue + </s>; anything else means a tokenizer
            # that splits or merges residues, and rows would no longer match residues.
            if n != len(s) + 2 or int(enc["input_ids"][i, 0]) != self.prefix_id:
                raise InputError(
                    f"embedder '{self.name}': tokenizer of '{self.model_ref}' gave {n} tokens for sequence {i} "
                    f"of the batch ({len(s)} residues; expected {AA_PREFIX} + 1 per residue + </s>)"
                )
        with torch.inference_mode():
            states = self.model(
                input_ids=enc["input_ids"].to(self.device), attention_mask=enc["attention_mask"].to(self.device)
            ).last_hidden_state
        states = states.float().cpu()
        return [states[i, 1 : 1 + len(s)].numpy().copy() for i, s in enumerate(seqs)]

    identity_keys = ("model_revision",)

    def provenance(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            **super().provenance(),
            "model": self.model_ref,
            "precision": precision_name(self.dtype),
            "transformers_version": transformers.__version__,
        }
        revision = getattr(self.model.config, "_commit_hash", None)
        if revision:
            info["model_revision"] = revision
        if self.local_dir is not None:
            info["model_dir"] = str(self.local_dir.resolve())
            info["weights_sha256"] = directory_sha256(self.local_dir, (".safetensors", ".bin"))
        return info
