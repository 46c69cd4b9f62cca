"""Timing helpers shared by every benchmark: warm-up, repeats, median and p95, device sync."""
from __future__ import annotations

import json
import math
import statistics
import time
from pathlib import Path
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
    return _summary(times)


DEFAULT_ROUNDS = 3  # time_interleaved's alternating rounds; it reports progress once per function and round


def time_interleaved(fns: dict[str, Callable[[], object]], device: torch.device, repeats: int,
                     rounds: int = DEFAULT_ROUNDS, budget_s: float | None = None,
                     progress: Callable[[str], None] | None = None) -> dict:
    """Time several functions in alternating blocks: round 1 = A-block, B-block, ...; then round 2; ...

    Each block starts with one untimed call (caches and allocator warm for *that* function, as in steady use)
    and then times its share of `repeats` calls. Drifting load on a shared machine then falls on every
    contender alike, without one function's memory traffic polluting every single call of another.
    A function whose timed calls have used up `budget_s` sits out the later rounds (after >= 3 calls)."""
    times = {name: [] for name in fns}
    spent = {name: 0.0 for name in fns}
    per_block = max(1, -(-repeats // rounds))
    for round_ in range(rounds):
        for name, fn in fns.items():
            if len(times[name]) >= repeats or (budget_s is not None and len(times[name]) >= 3
                                                and spent[name] > budget_s):
                continue
            if progress:
                progress(f"{name}, round {round_ + 1} of {rounds}")
            fn()
            sync(device)
            for _ in range(min(per_block, repeats - len(times[name]))):
                t0 = time.perf_counter()
                fn()
                sync(device)
                elapsed = time.perf_counter() - t0
                spent[name] += elapsed
                times[name].append(elapsed * 1e3)
                if budget_s is not None and len(times[name]) >= 3 and spent[name] > budget_s:
                    break
    return {name: _summary(t) for name, t in times.items()}


def p95(samples: list[float]) -> float:
    """The 95th percentile by the nearest-rank rule: the smallest sample with at least 95 % of all samples at or
    below it (of 20 samples the 19th smallest, of 3 the largest). Every moeviz benchmark reports this one."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _summary(times: list[float]) -> dict:
    """Median, p95, min and count, and the samples in the order they were taken (samples_ms): with one timed call
    per round, time_interleaved's samples of two functions pair up round by round."""
    ordered = sorted(times)
    return {"median_ms": statistics.median(ordered), "p95_ms": p95(ordered), "min_ms": ordered[0],
            "runs": len(ordered), "samples_ms": list(times)}


def machine_info() -> dict:
    import os
    import platform
    info = {"python": platform.python_version(), "torch": torch.__version__, "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "machine": platform.machine(), "processor": _cpu_name()}
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name(0)
    return info


def write_report(path: str, report: dict) -> None:
    """Write a benchmark's results as indented JSON (making the folder), and say where."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(report, indent=2))
    print(f"\nwrote {path}")


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
