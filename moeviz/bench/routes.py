"""Summarising a large per-token routing dump in one pass: time and peak memory.

Run: python -m moeviz.bench routes [--tokens 500000] [--layers 48] [--top-k 8] [--experts 128]
     [--out bench-results/routes.json]
Writes a vLLM-layout routed_experts .npy (tokens x layers x top-k int32, each row k distinct experts, skewed
toward a few hot experts: moeviz.routes.example) to a temporary folder, summarises it with moeviz.routes.summarize, checks the counts
against the generator's own, and reports the seconds and the peak memory: the process's resident set above
what it held before (Linux VmHWM, reset first) and the largest Python/numpy allocation total (tracemalloc).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from moeviz.bench.timing import machine_info, write_report
from moeviz.routes import summarize
from moeviz.routes.example import write_npy

def write_dump(path: Path, tokens: int, layers: int, top_k: int, experts: int) -> np.ndarray:
    """The .npy dump on disk, written a block at a time; returns the (layers, experts) counts it holds."""
    with open(path, "wb") as f:
        return write_npy(f, tokens, layers, top_k, experts)


def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field))


def measure(path: Path) -> dict:
    """Seconds to summarise, then peak memory in a second, traced pass."""
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM (the peak RSS) to the current RSS
        baseline = _rss_kb("VmRSS:")
    except OSError:
        baseline = None
    started = time.perf_counter()
    summary = summarize(path)
    seconds = time.perf_counter() - started
    peak_rss = (_rss_kb("VmHWM:") - baseline) / 1024 if baseline is not None else None
    tracemalloc.start()
    summarize(path)
    traced_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return {"seconds": seconds, "peak_rss_above_baseline_mb": peak_rss, "tracemalloc_peak_mb": traced_peak,
            "summary": summary}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m moeviz.bench routes", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tokens", type=int, default=500_000)
    p.add_argument("--layers", type=int, default=48)
    p.add_argument("--top-k", type=int, default=8)
    p.add_argument("--experts", type=int, default=128)
    p.add_argument("--out", default="bench-results/routes.json")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="moeviz-routes-") as folder:
        path = Path(folder) / "routed_experts.npy"
        started = time.perf_counter()
        expected = write_dump(path, args.tokens, args.layers, args.top_k, args.experts)
        write_s = time.perf_counter() - started
        size_mb = os.path.getsize(path) / 2**20
        result = measure(path)
    summary = result.pop("summary")
    assert (summary.load() == expected).all(), "the summary's counts differ from the generator's"
    print(f"dump: {args.tokens:,} tokens x {args.layers} layers x top-{args.top_k} of {args.experts} experts, "
          f"{size_mb:,.0f} MB (written in {write_s:.1f} s)")
    print(f"summary: {result['seconds']:.1f} s ({size_mb / result['seconds']:,.0f} MB/s); peak memory above "
          f"baseline {result['peak_rss_above_baseline_mb']:.0f} MB RSS, {result['tracemalloc_peak_mb']:.0f} MB "
          "allocated (tracemalloc); counts match the generator's")
    write_report(args.out, {"machine": machine_info(), "config": vars(args), "dump_mb": size_mb,
                            "write_s": write_s, **result})
    return 0
