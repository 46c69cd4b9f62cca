"""Timing helpers shared by every benchmark: warm-up, repeats, median and p95, device sync."""
from __future__ import annotations

import statistics
import time
from typing import Callable

import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def time_call(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int = 2,
              budget_s: float | None = None) -> dict:
    """Median / p95 / min wall time in ms of fn(), after `warmup` untimed calls.

    Stops early once `budget_s` seconds were spent (at least 3 timed calls), so slow cases stay bounded."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    start = time.perf_counter()
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append((time.perf_counter() - t0) * 1e3)
        if budget_s is not None and len(times) >= 3 and time.perf_counter() - start > budget_s:
            break
    times.sort()
    return {"median_ms": statistics.median(times), "p95_ms": times[min(len(times) - 1, int(0.95 * len(times)))],
            "min_ms": times[0], "runs": len(times)}


def machine_info() -> dict:
    import os
    import platform
    info = {"python": platform.python_version(), "torch": torch.__version__, "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "machine": platform.machine(), "processor": _cpu_name()}
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name(0)
    return info


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or "unknown"
