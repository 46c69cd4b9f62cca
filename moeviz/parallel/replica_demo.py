"""The replicas page's run as plain data: the same skewed batch on the worker pool, first with plain expert
parallelism (each worker a contiguous block of experts), then with the busiest experts replicated as the EPLB
plan says; both outputs checked against the single-process layer, both steps timed the same way."""
from __future__ import annotations

import numpy as np
import torch

from moeviz.config import MoEConfig
from moeviz.eplb import default_plan, plan_replicas
from moeviz.layer import MoELayer
from moeviz.parallel.pool import measure_expert_parallel
from moeviz.parallel.workload import skewed_tokens
from moeviz.routers import ROUTER_SPECS

# the routers that run without a capacity limit unless one is set (Switch and expert choice always have one)
NO_CAPACITY_ROUTERS = tuple(name for name, spec in ROUTER_SPECS.items() if spec.default_capacity_factor is None)


def replica_config(cfg: MoEConfig) -> tuple[MoEConfig, str | None]:
    """A dropless config the replicated step can run (no capacity: replicas change who computes a copy, not
    whether it is computed), and a note when something had to change."""
    if cfg.router in NO_CAPACITY_ROUTERS and cfg.capacity_factor is None:
        return cfg, None
    router = cfg.router if cfg.router in NO_CAPACITY_ROUTERS else "softmax_topk"
    note = (f"this run is dropless (no capacity factor) with the {router} router, as DeepSeek-V3 and the serving "
            "systems that replicate experts run: replication changes who computes a copy, never whether.")
    return cfg.replace(router=router, capacity_factor=None), note


def replica_demo(cfg: MoEConfig, num_tokens: int, skew: float, world_size: int, replicas: int,
                 repeats: int = 3) -> dict:
    """{"load", "phy2log", "before", "after"}; each run {"workers", "step_ms", "rows", "max_abs_diff"}.
    Raises WorkerError when the workers cannot start or a step fails, ValueError for a placement that cannot be."""
    cfg = cfg.replace(device="cpu")
    layer = MoELayer(cfg).eval()
    x = skewed_tokens(layer, num_tokens, skew, cfg.seed + 1, world_size)
    with torch.inference_mode():
        y, trace = layer(x)
    load = trace.tokens_per_expert.numpy()
    plans = {"before": default_plan(cfg.num_experts, world_size), "after": plan_replicas(load, replicas, world_size)}
    out = {"load": load.tolist(), "phy2log": plans["after"].phy2log.tolist()}
    for label, plan in plans.items():
        run = measure_expert_parallel(cfg, x, world_size, repeats, placement=tuple(plan.phy2log.tolist()))
        out[label] = {"workers": run.workers, "step_ms": run.step_ms, "pool_start_s": run.pool_start_s,
                      "rows": [w["rows_received"] for w in run.workers],
                      "planned_rows": np.round(plan.gpu_load(load)).astype(int).tolist(),
                      "max_abs_diff": float((run.output - y).abs().max())}
    return out
