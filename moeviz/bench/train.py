"""python -m moeviz.bench train: how long the balance lab's training takes, and what each preset ends at.

Times a full run of each preset (default 300 steps, 256 tokens per step) `--repeats` times after one warm-up run
(the first run pays one-off imports). Reports wall-clock seconds and the process's CPU seconds: on a shared,
busy machine the wall time includes waiting for a core, the CPU time does not. The target: the default preset
("balanced") in <= 3 s on a 2-core CPU.
"""
from __future__ import annotations

import argparse
import statistics
import time

from moeviz.bench.timing import machine_info, sync, write_report
from moeviz.device import resolve_device
from moeviz.train import LAB_PRESETS, preset, train

TARGET_S = 3.0


def time_preset(name: str, steps: int, device: str, repeats: int, seed: int = 0) -> dict:
    cfg = preset(name, steps=steps, device=device, seed=seed)
    walls, cpus, history = [], [], None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        history = train(cfg)
        sync(resolve_device(device))
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    final = history.final()
    return {"preset": name, "steps": steps, "tokens_per_step": cfg.tokens_per_step, "device": device,
            "wall_s_median": statistics.median(walls), "wall_s_min": min(walls),
            "cpu_s_median": statistics.median(cpus), "runs": repeats,
            "ms_per_step": 1e3 * min(walls) / steps,
            "final": {k: final[k] for k in ("max_mean_load", "task_loss", "specialization")}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m moeviz.bench train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="balanced,collapse,overbalanced,aux_free",
                        help=f"comma-separated, from {', '.join(LAB_PRESETS)}")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="bench-results/train.json")
    args = parser.parse_args(argv)
    train(preset("balanced", steps=5, device=args.device))  # warm-up: imports, allocator
    rows = []
    print(f"{'preset':<14}{'steps':>6}{'wall s (median)':>17}{'wall s (min)':>14}{'CPU s':>8}{'ms/step':>9}"
          f"{'max/mean':>10}{'task loss':>11}{'special.':>10}", flush=True)
    for name in args.presets.split(","):
        r = time_preset(name.strip(), args.steps, args.device, args.repeats)
        rows.append(r)
        f = r["final"]
        print(f"{r['preset']:<14}{r['steps']:>6}{r['wall_s_median']:>17.2f}{r['wall_s_min']:>14.2f}"
              f"{r['cpu_s_median']:>8.2f}{r['ms_per_step']:>9.2f}{f['max_mean_load']:>10.2f}"
              f"{f['task_loss']:>11.4f}{f['specialization']:>10.2f}", flush=True)
    default = next((r for r in rows if r["preset"] == "balanced"), None)
    if default is not None:
        verdict = "meets" if default["wall_s_min"] <= TARGET_S else "misses"
        print(f"\ndefault preset: {default['wall_s_min']:.2f} s best wall time for {args.steps} steps "
              f"({verdict} the {TARGET_S:g} s target)")
    report = {"machine": machine_info(), "target_s": TARGET_S, "results": rows}
    write_report(args.out, report)
    return 0
