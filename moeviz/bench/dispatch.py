"""Which sparse dispatch strategy is fastest at which size, and what "auto" picks.

Times the full sparse forward with strategy "padded" and "grouped" over a grid of batch sizes and expert
counts, so the thresholds in moeviz.dispatch rest on measurements.

Run: python -m moeviz.bench dispatch [--out bench-results/dispatch.json]
"""
from __future__ import annotations

import argparse

import torch

from moeviz.bench.timing import machine_info, time_call, write_report
from moeviz.config import MoEConfig
from moeviz.layer import MoELayer

GRID_TOKENS = (16, 64, 256, 1024, 4096)
GRID_EXPERTS = (8, 64)


def compare(cfg: MoEConfig, tokens: int, repeats: int) -> dict:
    layer = MoELayer(cfg).eval()
    x = torch.randn(tokens, cfg.d_model, generator=torch.Generator().manual_seed(1))
    row = {"tokens": tokens, "num_experts": cfg.num_experts}
    with torch.inference_mode():
        for strategy in ("padded", "grouped", "auto"):
            layer.dispatch_strategy = strategy
            _, trace = layer(x)
            row[strategy] = time_call(lambda: layer(x), layer.device, repeats, budget_s=5.0)["median_ms"]
            row[f"{strategy}_padding_rows"] = trace.metrics["padding_rows"]
            if strategy == "auto":
                row["auto_picks"] = trace.metrics["dispatch"]
    row["fastest"] = min(("padded", "grouped"), key=lambda s: row[s])
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m moeviz.bench dispatch", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--d-hidden", type=int, default=512)
    parser.add_argument("--top-k", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--out", default="bench-results/dispatch.json")
    args = parser.parse_args(argv)
    rows = []
    print(f"d_model={args.d_model} d_hidden={args.d_hidden} k={args.top_k}, median ms of a full sparse forward")
    print(f"{'T':>6}{'E':>5}{'padded':>10}{'grouped':>10}{'auto':>9}  auto picks  fastest  padding rows")
    for num_experts in GRID_EXPERTS:
        for tokens in GRID_TOKENS:
            cfg = MoEConfig(d_model=args.d_model, d_hidden=args.d_hidden, num_experts=num_experts,
                            top_k=args.top_k, device="cpu")
            r = compare(cfg, tokens, args.repeats)
            rows.append(r)
            print(f"{tokens:>6}{num_experts:>5}{r['padded']:>10.3f}{r['grouped']:>10.3f}{r['auto']:>9.3f}  "
                  f"{r['auto_picks']:<10} {r['fastest']:<8} {r['padded_padding_rows']}", flush=True)
    write_report(args.out, {"machine": machine_info(), "rows": rows})
    return 0
