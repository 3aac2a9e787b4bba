"""Mixed precision: bfloat16 where the hardware multiplies it natively, float32 elsewhere."""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from emocli.errors import OptionError

PRECISIONS = ("auto", "fp32", "bf16")


def native_bf16(device: torch.device) -> bool:
    """Whether the device multiplies bfloat16 in hardware (AVX512-BF16/AMX, or CUDA Ampere+)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:  # torch has no public query for the CPU's bf16 instructions; Linux lists them
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for a precision name, or None for plain float32."""
    if precision not in PRECISIONS:
        raise OptionError("precision", f"must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "bf16" or (precision == "auto" and native_bf16(device)):
        return torch.bfloat16
    return None


def autocast(dtype: torch.dtype | None, device: torch.device = torch.device("cpu")):
    """torch.autocast for `dtype`, or nothing for float32."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype)
