"""ESM C per-residue embeddings (EvolutionaryScale's `esm` package), from a model name or a local weights file.

Spec keys:
    model: `esmc_300m` (960-d) or `esmc_600m` (1,152-d), whose weights the esm package
           fetches into the Hugging Face cache (its own `data_root`), or the path of a
           local ESM C state dict (`.pth`, e.g. that cache's file copied elsewhere)
           [default esmc_300m]

Both ways share one loader: the weights file is read with
`torch.load(weights_only=True)` (a model file cannot run code), the shape is read
off the state dict (width from the token embedding, depth from the blocks, heads
from ESM C's 64-wide heads), the package's own `ESMC` class is built with it and
loads the state dict strictly. For a name, the shape read off the file must be the
one the esm package builds for that name (`NAMED_MODELS`, checked against
`esm.pretrained` by the tests), so a wrong file is refused, not silently embedded.

EvolutionaryScale's `esm` and fair-esm (kind esm2) are both the top-level module
`esm`, so this module runs in its own interpreter (.venv-esmc, or the conda env
envs/embed-esmc.yaml); `locfusion.embed_job` hands a shard to it.

Rows: the final layer after its layer norm (what the package returns as
`embeddings`), without the BOS (`<cls>`) and EOS rows. The package sets no length
limit (rotary positions); `max_residues` is 2,046 residues + BOS/EOS = 2,048
tokens, the longest input hosted ESM C services accept, and the store crops beyond.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import InputError

try:
    from esm.models.esmc import ESMC
    from esm.tokenization import get_esmc_model_tokenizers
    from esm.utils.constants.esm3 import data_root
    from esm.utils.encoding import tokenize_sequence
    from esm.utils.misc import stack_variable_length_tensors
except ModuleNotFoundError as exc:  # fair-esm's `esm` has no esm.models: say which package is meant
    raise InputError(
        f"kind 'esmc' needs EvolutionaryScale's esm package (esm==3.2.1.post1), which this Python "
        f"({sys.executable}) cannot import ({exc}); rule embed hands esmc shards to .venv-esmc "
        "(make venv-esmc) by itself, other commands (e.g. locfusion predict) must be run with an "
        "interpreter that has it"
    ) from exc

from .base import Embedder, RuntimeOptions, register
from .torch_runtime import check_batch, cpu_bf16_supported, file_sha256, inference, precision_name, setup_torch

DEFAULT_MODEL = "esmc_300m"
# ESM C's attention heads are 64 wide in both released sizes (960 / 15, 1,152 / 18).
HEAD_WIDTH = 64
_BLOCK = re.compile(r"^transformer\.blocks\.(\d+)\.")


@dataclass(frozen=True)
class ESMCShape:
    d_model: int
    n_heads: int
    n_layers: int


@dataclass(frozen=True)
class NamedModel:
    """Where the esm package keeps a released model, and the shape it builds it with."""

    data_key: str  # the argument of esm's `data_root` (which Hugging Face snapshot)
    weights: str  # the weights file inside that snapshot
    shape: ESMCShape


# As in esm.pretrained.ESMC_300M_202412 / ESMC_600M_202412 (esm 3.2.1.post1).
NAMED_MODELS: dict[str, NamedModel] = {
    "esmc_300m": NamedModel("esmc-300", "data/weights/esmc_300m_2024_12_v0.pth", ESMCShape(960, 15, 30)),
    "esmc_600m": NamedModel("esmc-600", "data/weights/esmc_600m_2024_12_v0.pth", ESMCShape(1152, 18, 36)),
}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def named_weights(name: str) -> Path:
    """The weights file of a released model, fetched by the esm package when not yet cached."""
    entry = NAMED_MODELS[name]
    try:
        root = Path(data_root(entry.data_key))
    except Exception as exc:  # offline: huggingface_hub's connection or cache-miss errors
        raise InputError(
            f"ESM C model '{name}' is not in the Hugging Face cache and could not be downloaded "
            f"({type(exc).__name__}: {_first_line(exc)}); download it where there is internet, "
            "or give the path of a local ESM C weights file (.pth) as the embedder's model"
        ) from None
    path = root / entry.weights
    if not path.is_file():
        raise InputError(f"ESM C model '{name}': the esm package's snapshot {root} has no {entry.weights}")
    return path


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """torch.load an ESM C state dict without allowing arbitrary unpickling."""
    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError(f"ESM C weights not found: {path}") from None
    except IsADirectoryError:
        raise InputError(f"{path}: a directory, not an ESM C weights file (.pth)") from None
    except Exception as exc:  # pickle.UnpicklingError, RuntimeError for non-torch files
        raise InputError(f"{path}: not a loadable ESM C state dict with weights_only=True ({_first_line(exc)})") from None
    if not isinstance(data, dict) or not isinstance(data.get("embed.weight"), torch.Tensor):
        raise InputError(f"{path}: not an ESM C state dict (no 'embed.weight' tensor)")
    return data


def shape_of(state: dict[str, torch.Tensor], path: Path) -> ESMCShape:
    """The ESM C shape a state dict was saved from (heads: ESM C's 64-wide heads)."""
    d_model = int(state["embed.weight"].shape[1])
    blocks = {int(m.group(1)) for key in state if (m := _BLOCK.match(key))}
    if not blocks or blocks != set(range(len(blocks))):
        raise InputError(f"{path}: not an ESM C state dict (transformer blocks {sorted(blocks)[:5]}...)")
    if d_model % HEAD_WIDTH:
        raise InputError(f"{path}: width {d_model} is not a multiple of ESM C's {HEAD_WIDTH}-wide attention heads")
    return ESMCShape(d_model, d_model // HEAD_WIDTH, len(blocks))


def load_esmc(model: str) -> tuple[ESMC, dict[str, Any]]:
    """Load ESM C by released name or local weights path: (model in eval mode, provenance)."""
    expected = NAMED_MODELS[model].shape if model in NAMED_MODELS else None
    if expected is not None:
        path = named_weights(model)
    else:
        path = Path(model).expanduser()
        if not path.exists() and path.suffix not in {".pth", ".pt"}:
            raise InputError(
                f"ESM C model '{model}' is neither a released name ({', '.join(NAMED_MODELS)}) "
                "nor an existing weights file"
            )
    state = read_state_dict(path)
    shape = shape_of(state, path)
    if expected is not None and shape != expected:
        raise InputError(f"{path}: holds an ESM C of shape {shape}, not {model}'s {expected}")
    net = ESMC(d_model=shape.d_model, n_heads=shape.n_heads, n_layers=shape.n_layers,
               tokenizer=get_esmc_model_tokenizers(), use_flash_attn=False)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise InputError(f"{path}: ESM C could not load it ({_first_line(exc)})") from None
    info = {"model": model, "weights": str(path.resolve()), "weights_sha256": file_sha256(path),
            "n_heads": shape.n_heads, "n_layers": shape.n_layers}
    return net.eval(), info


@register("esmc")
class ESMCEmbedder(Embedder):
    """Per-residue representations of ESM C's last layer, without the BOS and EOS rows."""

    max_residues = 2046

    def __init__(self, name: str, spec: dict[str, Any], runtime: RuntimeOptions) -> None:
        super().__init__(name, spec, runtime)
        self.device, dtype = setup_torch(runtime, name)
        self.model, self._info = load_esmc(str(spec.get("model") or DEFAULT_MODEL))
        self.dim = int(self.model.embed.embedding_dim)
        self.tokenizer = self.model.tokenizer
        # As for ESM-2: fp16/bf16 weights on GPU; bf16 autocast on CPUs with native bf16 (the
        # residual stream and layer norms stay fp32), fp32 elsewhere.
        if dtype == torch.bfloat16 and self.device.type == "cpu" and not cpu_bf16_supported():
            dtype = torch.float32
        self.autocast_dtype = torch.float32
        if self.device.type == "cuda" and dtype != torch.float32:
            self.model = self.model.to(dtype)
        else:
            self.autocast_dtype = dtype
        self.dtype = dtype
        self.model = self.model.to(self.device)

    def tokens(self, sequences: Sequence[str]) -> torch.Tensor:
        """Token ids, BOS + residues + EOS, padded: the package's own tokenization."""
        return stack_variable_length_tensors(
            [tokenize_sequence(s, self.tokenizer, add_special_tokens=True) for s in sequences],
            constant_value=self.tokenizer.pad_token_id,
        )

    def embed_batch(self, sequences: Sequence[str]) -> list[np.ndarray]:
        seqs = check_batch(self.name, sequences, self.max_residues)
        if not seqs:
            return []
        tokens = self.tokens(seqs).to(self.device)
        with inference(self.device, self.autocast_dtype):
            reps = self.model(sequence_tokens=tokens).embeddings
        reps = reps.float().cpu()
        # Each sequence's own rows: after BOS, before its EOS and the padding.
        return [reps[i, 1 : 1 + len(s)].numpy().copy() for i, s in enumerate(seqs)]

    def provenance(self) -> dict[str, Any]:
        return {
            **super().provenance(),
            **self._info,
            "precision": precision_name(self.dtype),
            "esm_version": importlib.metadata.version("esm"),  # the distribution (esm.__version__ omits .post1)
        }
