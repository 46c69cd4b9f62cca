"""The page's imbalance demo as plain data: the same layer on the worker pool with balanced and skewed tokens,
each output checked against the single-process layer (per capacity group: see moeviz.parallel.engine)."""
from __future__ import annotations

import torch

from moeviz.config import MoEConfig
from moeviz.layer import MoELayer
from moeviz.parallel.engine import local_group_reference, unsupported_reason
from moeviz.parallel.pool import measure_expert_parallel
from moeviz.parallel.workload import skewed_tokens


def demo_config(cfg: MoEConfig) -> tuple[MoEConfig, str | None]:
    """A config the engine can run for `cfg`, and a note when something had to change (the router)."""
    if unsupported_reason(cfg):
        note = (f"expert choice is replaced by softmax top-{cfg.top_k}: its experts rank every token of the whole "
                "batch together, which no single worker sees.")
        return cfg.replace(router="softmax_topk", capacity_factor=None), note
    return cfg, None


def imbalance_demo(cfg: MoEConfig, num_tokens: int, skew: float, world_size: int, repeats: int = 3) -> dict:
    """{"balanced": run, "skewed": run}, each run {"workers", "step_ms", "max_abs_diff", "load_max_over_mean",
    "dropped_fraction", "pool_start_s"}. Raises WorkerError when the workers cannot start or a step fails."""
    layer = MoELayer(cfg.replace(device="cpu")).eval()
    out = {}
    for label, s in (("balanced", 0.0), ("skewed", skew)):
        x = skewed_tokens(layer, num_tokens, s, cfg.seed + 1, world_size)
        run = measure_expert_parallel(cfg.replace(device="cpu"), x, world_size, repeats)
        y, dropped = local_group_reference(layer, x, world_size)
        with torch.inference_mode():
            demand = layer.route(x).selected_per_expert.float()
        out[label] = {"workers": run.workers, "step_ms": run.step_ms, "pool_start_s": run.pool_start_s,
                      "max_abs_diff": float((run.output - y).abs().max()), "dropped_fraction": dropped,
                      "load_max_over_mean": float(demand.max() / demand.mean())}  # routing demand, before capacity
    return out
