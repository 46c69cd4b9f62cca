"""python -m moeviz.bench checkpoint: load and route time of real-architecture checkpoints (moeviz.hf).

For each family, a tiny random checkpoint (moeviz.hf.tiny: hidden 16, 2-3 layers, 4-8 experts) is written to a
temporary folder; then the shipped models and any --model folders are measured too. Per model:
    cold      the first load_checkpoint of the model in this process (pays the family's lazy imports)
    load      load_checkpoint again: folder checks, safetensors headers, transformers' from_pretrained (median
              of --loads)
    route     model.route(text) on --tokens tokens: one forward of the decoder with the router hooks, plus the
              traces (median of --repeats after warm-up)
    cache hit ModelCache.get of a model already loaded: what a page rerun pays before routing
The /heatmap page's own rerun time with the default model cached is Streamlit code, so it is timed by the app's
benchmark: `python -m moeviz.bench app --page heatmap`.
`import transformers` itself is lazy and reported apart (import_transformers_s); the load average at the start
is recorded, since on a shared machine it moves every figure.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from moeviz.bench.timing import machine_info, time_call
from moeviz.device import resolve_device

TEXT = ("The router sends each token to two experts. def route(x):\n    return softmax(x @ w).topk(2)\n"
        "Les experts ne voient que les jetons choisis: 1, 2, 3, 5, 8, 13, 21.")


def sample_text(model, tokens: int) -> str:
    """TEXT repeated and cut so that the model's tokenizer gives at most `tokens` ids."""
    text = TEXT
    while len(model.tokenizer(text)["input_ids"]) < tokens:
        text = text + " " + TEXT
    ids = model.tokenizer(text)["input_ids"][:tokens]
    return model.tokenizer.decode(ids, skip_special_tokens=True)


def measure(name: str, folder: Path, device: str, loads: int, repeats: int, tokens: int) -> dict:
    from moeviz.hf.folders import ModelCache
    from moeviz.hf.model import load_checkpoint
    t0 = time.perf_counter()
    load_checkpoint(folder, device=device)  # cold: pays the first use of this family's transformers classes
    cold_s = time.perf_counter() - t0
    load_s = []
    for _ in range(loads):
        t0 = time.perf_counter()
        model = load_checkpoint(folder, device=device)
        load_s.append(time.perf_counter() - t0)
    text = sample_text(model, min(tokens, model.context))
    routed = model.route(text)
    route = time_call(lambda: model.route(text), model.device, repeats, warmup=2)
    cache = ModelCache(max_models=1, loader=lambda _path: model)
    models = {folder.name: folder}
    cache.get(folder.name, models)
    hit = time_call(lambda: cache.get(folder.name, models), torch.device("cpu"), 200, warmup=5)
    info = model.info()
    return {"model": name, "model_type": info["model_type"], "dtype": info["dtype"], "device": info["device"],
            "params_total": info["params_total"], "moe_layers": len(info["moe_layers"]),
            "num_experts": info["num_experts"], "top_k": info["top_k"], "tokens": len(routed.token_ids),
            "cold_load_s": cold_s, "load_s_median": statistics.median(load_s), "load_s_min": min(load_s),
            "route_ms_median": route["median_ms"], "route_ms_p95": route["p95_ms"],
            "cache_hit_us_median": 1e3 * hit["median_ms"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m moeviz.bench checkpoint", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", default="all", help="comma-separated model types, all, or none")
    parser.add_argument("--model", action="append", default=[], help="also measure this checkpoint folder")
    parser.add_argument("--no-shipped", action="store_true", help="skip the shipped models")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--out", default="bench-results/checkpoint.json")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    load_average = os.getloadavg()
    t0 = time.perf_counter()
    import transformers  # noqa: F401 - timed once, apart from every load
    import_s = time.perf_counter() - t0
    from moeviz.hf.folders import SHIPPED_DIR, available_models
    from moeviz.hf.tiny import TINY, save_tiny_checkpoint
    families = list(TINY) if args.families == "all" else [f for f in args.families.split(",") if f and f != "none"]
    rows = []
    print(f"import transformers: {import_s:.2f} s; device {resolve_device(args.device)}", flush=True)
    header = (f"{'model':<22}{'type':<13}{'dtype':<10}{'params':>11}{'tokens':>7}{'cold s':>8}{'load s':>8}"
              f"{'route ms':>10}"
              f"{'p95 ms':>8}{'cache hit µs':>14}")
    print(header, flush=True)
    with tempfile.TemporaryDirectory(prefix="moeviz-bench-") as tmp:
        folders = [(f"tiny {t}", save_tiny_checkpoint(t, Path(tmp) / t)) for t in families]
        if not args.no_shipped:
            folders += [(name, path) for name, path in available_models([], shipped=SHIPPED_DIR).items()]
        folders += [(Path(p).name, Path(p)) for p in args.model]
        for name, folder in folders:
            r = measure(name, folder, args.device, args.loads, args.repeats, args.tokens)
            rows.append(r)
            print(f"{r['model']:<22}{r['model_type']:<13}{r['dtype']:<10}{r['params_total']:>11,}{r['tokens']:>7}"
                  f"{r['cold_load_s']:>8.3f}{r['load_s_median']:>8.3f}{r['route_ms_median']:>10.1f}{r['route_ms_p95']:>8.1f}"
                  f"{r['cache_hit_us_median']:>14.1f}", flush=True)
    report = {"machine": machine_info(), "load_average_at_start": load_average, "import_transformers_s": import_s,
              "config": vars(args), "results": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")
    return 0
