"""Which torch device to use: "auto" means CUDA, then Apple's MPS, then the CPU."""
from __future__ import annotations

import torch


def resolve_device(name: str = "auto") -> torch.device:
    """Turn a config's device string into a torch.device, falling back to what this machine has."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def available_devices() -> tuple[str, ...]:
    """The device names a user may pick on this machine: "cpu", plus "cuda" when a CUDA GPU is present."""
    return ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)


def describe_device(device: torch.device) -> str:
    """A short human label, e.g. 'CUDA (NVIDIA H100)' or 'CPU (2 threads)'."""
    if device.type == "cuda":
        return f"CUDA ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return "MPS (Apple GPU)"
    threads = torch.get_num_threads()
    return f"CPU ({threads} thread{'s' if threads != 1 else ''})"
