"""The page's imbalance demo as plain data: the same layer on the worker pool with balanced and skewed tokens,
each output checked against the single-process layer."""
from __future__ import annotations

import torch

from moeviz.config import MoEConfig
from moeviz.layer import MoELayer
from moeviz.parallel.engine import unsupported_reason
from moeviz.parallel.pool import measure_expert_parallel
from moeviz.parallel.workload import skewed_tokens


def demo_config(cfg: MoEConfig) -> tuple[MoEConfig, str | None]:
    """A config the engine can run for `cfg`, and a note when something had to change (capacity, router)."""
    notes = []
    if cfg.capacity_factor is not None:
        cfg = cfg.replace(capacity_factor=None)
        notes.append("capacity is switched off here (it needs the whole batch; see the section above)")
    if unsupported_reason(cfg):
        k = 1 if cfg.router == "switch" else cfg.top_k
        notes.append(f"the {cfg.router} router is replaced by softmax top-{k} (it needs the whole batch or "
                     "a capacity limit)")
        cfg = cfg.replace(router="softmax_topk", top_k=k, capacity_factor=None)
    return cfg, ("; ".join(notes) + ".") if notes else None


def imbalance_demo(cfg: MoEConfig, num_tokens: int, skew: float, world_size: int, repeats: int = 3) -> dict:
    """{"balanced": run, "skewed": run}, each run {"workers", "step_ms", "max_abs_diff", "load_max_over_mean",
    "pool_start_s"}. Raises WorkerError when the workers cannot start or a step fails."""
    layer = MoELayer(cfg.replace(device="cpu")).eval()
    out = {}
    for label, s in (("balanced", 0.0), ("skewed", skew)):
        x = skewed_tokens(layer, num_tokens, s, cfg.seed + 1, world_size)
        run = measure_expert_parallel(cfg.replace(device="cpu"), x, world_size, repeats)
        with torch.inference_mode():
            y, trace = layer(x)
        out[label] = {"workers": run.workers, "step_ms": run.step_ms, "pool_start_s": run.pool_start_s,
                      "max_abs_diff": float((run.output - y).abs().max()),
                      "load_max_over_mean": trace.metrics["max_mean_load"]}
    return out
