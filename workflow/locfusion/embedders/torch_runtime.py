"""Shared plumbing of the PyTorch-backed embedders (esm2, prostt5, unirep).

Kept in one place so that the three models agree on how a `RuntimeOptions`
becomes a torch device, dtype and thread count, on what counts as a valid
input batch, and on how a weights file is fingerprinted for provenance.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch

from ..device import TORCH_DTYPES
from ..errors import InputError
from ..io import sha256_file
from .base import VALID_AA, RuntimeOptions


def setup_torch(runtime: RuntimeOptions, owner: str) -> tuple[torch.device, torch.dtype]:
    """Apply the thread count and return the (device, compute dtype) for `runtime`.

    `torch.set_num_threads` is process-wide: an embedding job runs one embedder
    at a time, so the last one built decides, which is what the job asked for.
    """
    torch.set_num_threads(max(1, int(runtime.threads)))
    device = torch.device(runtime.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"embedder '{owner}': device '{runtime.device}' requested but no CUDA GPU is visible")
    if runtime.precision not in TORCH_DTYPES:
        raise InputError(f"embedder '{owner}': unknown precision '{runtime.precision}' (fp32, bf16 or fp16)")
    dtype = TORCH_DTYPES[runtime.precision]
    if dtype == torch.float16 and device.type != "cuda":
        raise InputError(f"embedder '{owner}': precision fp16 needs a CUDA device (use bf16 or fp32 on CPU)")
    return device, dtype


def precision_name(dtype: torch.dtype) -> str:
    """The config spelling of a torch dtype (inverse of `TORCH_DTYPES`), for provenance."""
    return next(name for name, dt in TORCH_DTYPES.items() if dt == dtype)


def cpu_bf16_supported() -> bool:
    """True when oneDNN has native bf16 kernels on this CPU (else bf16 is emulated and slow)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def autocast(device: torch.device, dtype: torch.dtype) -> contextlib.AbstractContextManager[None]:
    """Mixed-precision context for `dtype` (a no-op for fp32)."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def check_batch(owner: str, sequences: Sequence[str], max_residues: int | None) -> list[str]:
    """Refuse what the model cannot embed faithfully, naming the offending batch position.

    The store validates and crops sequences before they get here; this is the
    last line of defence for direct library use, so a silent truncation or a
    tokenizer mapping an unknown letter to <unk> cannot happen.
    """
    if isinstance(sequences, str):
        raise InputError(f"embedder '{owner}': embed_batch takes a list of sequences, not one string")
    seqs = list(sequences)
    for i, seq in enumerate(seqs):
        if not seq:
            raise InputError(f"embedder '{owner}': sequence {i} of the batch is empty")
        bad = set(seq) - VALID_AA
        if bad:
            raise InputError(
                f"embedder '{owner}': sequence {i} of the batch has invalid residue(s) {''.join(sorted(bad))!r}"
            )
        if max_residues is not None and len(seq) > max_residues:
            raise InputError(
                f"embedder '{owner}': sequence {i} of the batch has {len(seq)} residues, more than the model's "
                f"limit of {max_residues} (crop it first: the store keeps the N- and C-terminal halves)"
            )
    return seqs


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file, computed once per (path, size, mtime) in this process.

    A 650M checkpoint takes seconds to hash and provenance is asked for every
    shard, so the digest is cached; a replaced file gets a new key.
    """
    p = Path(path).resolve()
    st = p.stat()
    return _sha256_cached(str(p), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(path)  # size and mtime in the key: a replaced file is hashed again


def directory_sha256(path: str | os.PathLike[str], suffixes: tuple[str, ...]) -> str:
    """One digest over the files of a model directory with the given suffixes (names and contents)."""
    root = Path(path)
    digest = hashlib.sha256()
    for file in sorted(f for f in root.rglob("*") if f.is_file() and f.name.endswith(suffixes)):
        digest.update(str(file.relative_to(root)).encode())
        digest.update(file_sha256(file).encode())
    return digest.hexdigest()


@contextlib.contextmanager
def inference(device: torch.device, dtype: torch.dtype) -> Iterator[None]:
    """`torch.inference_mode` plus autocast: no autograd bookkeeping when embedding."""
    with torch.inference_mode(), autocast(device, dtype):
        yield
