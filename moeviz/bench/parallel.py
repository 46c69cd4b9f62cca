"""Expert parallelism over gloo worker processes on this machine: per-worker tokens, times and bytes.

Run: python -m moeviz.bench parallel [--workers 2 4] [--skew 0 0.9] [--tokens 4096] [--out bench-results/parallel.json]
Each case is the median of --repeats steps on the pooled workers; the output is checked against the
single-process layer before anything is reported.

    python -m moeviz.bench parallel --page-default 10
runs /parallel's default demo (moeviz.parallel.demo: balanced and skewed with no drops, then skewed under
capacity) 10 times and reports in how many the skewed step was the slower: how reliable the page's lesson is.
"""
from __future__ import annotations

import argparse

import torch

from moeviz.bench.timing import machine_info, write_report
from moeviz.config import MoEConfig
from moeviz.layer import MoELayer
from moeviz.parallel import measure_expert_parallel, shutdown_pool, skewed_tokens
from moeviz.parallel.demo import (DEFAULT_SKEW, DEFAULT_WORKERS, EP_D_HIDDEN, EP_D_MODEL, EP_REPEATS, EP_TOKENS,
                                  imbalance_demo, slower_rounds, slowdown_shown)
from moeviz.parallel.run import print_table


def run_case(cfg: MoEConfig, tokens: int, world_size: int, skew: float, repeats: int) -> dict:
    layer = MoELayer(cfg).eval()
    x = skewed_tokens(layer, tokens, skew, cfg.seed + 1, world_size)
    run = measure_expert_parallel(cfg, x, world_size, repeats)
    with torch.inference_mode():
        y, trace = layer(x)
    torch.testing.assert_close(run.output, y, rtol=1e-4, atol=1e-5)
    return {"world_size": world_size, "skew": skew, "tokens": tokens, "step_ms": run.step_ms,
            "pool_start_s": run.pool_start_s, "load_max_over_mean": trace.metrics["max_mean_load"],
            "workers": run.workers}


def page_default(runs: int, num_experts: int = 8, top_k: int = 2) -> dict:
    """/parallel's default expert-parallel demo, `runs` times: each run's three medians and its rounds."""
    cfg = MoEConfig(d_model=EP_D_MODEL, d_hidden=EP_D_HIDDEN, num_experts=num_experts, top_k=top_k, device="cpu")
    rows = []
    try:
        for i in range(runs):
            demo = imbalance_demo(cfg, EP_TOKENS, DEFAULT_SKEW, DEFAULT_WORKERS, EP_REPEATS)
            row = {label: round(r["step_ms"], 1) for label, r in demo.items()}
            row |= {"slower_rounds": slower_rounds(demo), "rounds": EP_REPEATS, "shown": slowdown_shown(demo),
                    "dropped_with_capacity": demo["skewed_capacity"]["dropped_fraction"]}
            rows.append(row)
            print(f"run {i + 1}: balanced {row['balanced']:.0f} ms, skewed {row['skewed']:.0f} ms "
                  f"({row['skewed'] / row['balanced']:.2f}x, slower in {row['slower_rounds']}/{EP_REPEATS} rounds), "
                  f"skewed under capacity {row['skewed_capacity']:.0f} ms", flush=True)
    finally:
        shutdown_pool()
    slower = sum(r["skewed"] > r["balanced"] for r in rows)
    shown = sum(r["shown"] for r in rows)  # what the page then claims (demo.slowdown_shown)
    ratios = sorted(r["skewed"] / r["balanced"] for r in rows)
    print(f"skewed median slower in {slower} of {runs} runs; the page shows the slowdown (a majority of rounds) "
          f"in {shown} of {runs}; ratio min {ratios[0]:.2f}, median "
          f"{ratios[len(ratios) // 2]:.2f}, max {ratios[-1]:.2f}")
    return {"runs": rows, "skewed_slower_runs": slower, "slowdown_shown_runs": shown, "ratio_min": ratios[0], "workers": DEFAULT_WORKERS,
            "skew": DEFAULT_SKEW, "tokens": EP_TOKENS, "d_model": EP_D_MODEL, "d_hidden": EP_D_HIDDEN}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m moeviz.bench parallel", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--skew", type=float, nargs="+", default=[0.0, 0.9])
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--num-experts", type=int, default=8)
    parser.add_argument("--top-k", type=int, default=2)
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--d-hidden", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="bench-results/parallel.json")
    parser.add_argument("--page-default", type=int, default=0, metavar="RUNS",
                        help="run /parallel's default demo RUNS times instead (the other options are ignored)")
    args = parser.parse_args(argv)
    if args.page_default:
        write_report(args.out, {"machine": machine_info(), "page_default": page_default(args.page_default)})
        return 0
    cfg = MoEConfig(d_model=args.d_model, d_hidden=args.d_hidden, num_experts=args.num_experts, top_k=args.top_k,
                    device="cpu")
    report = {"machine": machine_info(), "config": vars(args), "cases": []}
    try:
        for world_size in args.workers:
            for skew in args.skew:
                print(f"\n== W={world_size} workers, skew={skew}, T={args.tokens}, D={cfg.d_model}, "
                      f"H={cfg.d_hidden}, N={cfg.num_experts}, k={cfg.top_k}", flush=True)
                case = run_case(cfg, args.tokens, world_size, skew, args.repeats)
                print_table(case["workers"])
                print(f"load max/mean = {case['load_max_over_mean']:.2f}; pool start {case['pool_start_s']:.1f} s")
                report["cases"].append(case)
    finally:
        shutdown_pool()
    write_report(args.out, report)
    return 0
