"""Resolve `auto` device and precision settings against the hardware at hand.

bf16 is only chosen automatically where it is native: on CPUs with bf16 matrix
instructions (AVX512-BF16 or AMX), where it is several times faster than fp32
(elsewhere it would be emulated and slower, so `auto` falls back to fp32), and on
GPUs that compute in bf16 (Ampere and later); older GPUs get fp16, which training
pairs with a gradient scaler. A CUDA device that is not visible is one clear error.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from .errors import InputError


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True when /proc/cpuinfo advertises AVX512-BF16 or AMX-BF16."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_device(name: str) -> str:
    """`auto` -> `cuda` when a GPU is visible, else `cpu`; a CUDA device that is not visible is an error."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError(f"device '{name}' requested but no CUDA GPU is visible (use 'auto' or 'cpu')")
        _, _, index = name.partition(":")
        count = torch.cuda.device_count()
        if index and int(index) >= count:
            raise InputError(f"device '{name}' requested but only {count} CUDA GPU(s) are visible (cuda:0 to cuda:{count - 1})")
    return name


def resolve_precision(name: str, device: str) -> str:
    """`auto` -> fp16 on GPU, bf16 on CPUs with native bf16, fp32 otherwise."""
    if name != "auto":
        if name == "fp16" and not device.startswith("cuda"):
            raise InputError("precision 'fp16' is only supported on a CUDA device (use bf16 or fp32 on CPU)")
        return name
    if device.startswith("cuda"):
        return "fp16"
    return "bf16" if cpu_has_native_bf16() else "fp32"


TORCH_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_training_precision(name: str, device: str) -> str:
    """Training's precision on `device`: fp32 master weights, autocast to the returned dtype.

    `auto`: bf16 on a GPU that supports it (no gradient scaler needed), else fp16
    (with a gradient scaler); on a CPU, as `resolve_precision`. fp16 needs a GPU.
    """
    if name == "auto" and device.startswith("cuda"):
        with torch.cuda.device(torch.device(device)):  # the GPU asked for, natively (not emulated bf16)
            return "bf16" if torch.cuda.is_bf16_supported(including_emulation=False) else "fp16"
    return resolve_precision(name, device)
