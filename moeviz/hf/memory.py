"""Will a checkpoint fit? Its weight bytes (from the safetensors headers) against the memory free right now.

The server is shared, so a model may use only part of what is free: FREE_SHARE of the available memory, after
adding RUNTIME_SHARE of the weights and a fixed RUNTIME_BYTES for activations and the process itself.
"""
from __future__ import annotations

import os

import torch

FREE_SHARE = 0.8  # leave a fifth of the free memory to everyone else
RUNTIME_SHARE = 0.1  # activations, the tokenizer, allocator slack: a tenth of the weights ...
RUNTIME_BYTES = 256 << 20  # ... plus a quarter GiB
GIB = 1 << 30


def available_bytes(device: torch.device) -> int | None:
    """Memory free for a new model on `device` (CUDA: free device memory; CPU: MemAvailable), None if unknown."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def required_bytes(weight_bytes: int) -> int:
    return int(weight_bytes * (1 + RUNTIME_SHARE)) + RUNTIME_BYTES


def fit_problem(name: str, weight_bytes: int, device: torch.device, free: int | None = None) -> str | None:
    """A sentence with the numbers when the model would not fit on `device`; None when it fits (or the free
    memory cannot be read: then loading is attempted)."""
    free = available_bytes(device) if free is None else free
    if free is None:
        return None
    need, allowed = required_bytes(weight_bytes), int(free * FREE_SHARE)
    if need <= allowed:
        return None
    where = "GPU" if device.type == "cuda" else "RAM"
    return (f"{name} needs about {need / GIB:.1f} GiB of {where} ({weight_bytes / GIB:.1f} GiB of weights plus "
            f"{(need - weight_bytes) / GIB:.1f} GiB to run), but only {allowed / GIB:.1f} GiB may be used "
            f"({FREE_SHARE:.0%} of the {free / GIB:.1f} GiB free now, leaving room for everyone else).")
