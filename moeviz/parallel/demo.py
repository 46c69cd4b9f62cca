"""The page's imbalance demo as plain data: the same layer on the worker pool with balanced and skewed tokens,
first with no capacity limit (the busiest worker sets the pace), then the skewed tokens under a capacity limit
(its drops cap that worker's work); each output checked against the single-process layer (per capacity group:
see moeviz.parallel.engine)."""
from __future__ import annotations

import torch

from moeviz.config import MoEConfig
from moeviz.layer import MoELayer
from moeviz.parallel.engine import expert_owner, local_group_reference, unsupported_reason
from moeviz.parallel.pool import measure_interleaved
from moeviz.parallel.workload import skewed_tokens

# The page's default run, sized so that the skewed step is reliably the slower one on the shared 2-core server
# (docs/systems.md records 10 runs: python -m moeviz.bench parallel --page-default 10). Four workers, not two:
# with two, one busy core elsewhere made the balanced workers share the other and the two steps tie.
EP_TOKENS, EP_D_MODEL, EP_D_HIDDEN, EP_REPEATS = 2048, 256, 2048, 7
EP_SEED = 0  # the page's run is always this seed's layer and tokens: the times do not depend on the draw
DEFAULT_WORKERS, DEFAULT_SKEW = 4, 0.9
DEFAULT_LIMIT = 1.0  # the capacity factor of the third run when the layer has none: room for the even share
CASES = ("balanced", "skewed", "skewed_capacity")


def demo_config(cfg: MoEConfig) -> tuple[MoEConfig, str | None]:
    """A config the engine can run for `cfg`, and a note when something had to change (the router)."""
    if unsupported_reason(cfg):
        note = (f"expert choice is replaced by softmax top-{cfg.top_k}: its experts rank every token of the whole "
                "batch together, which no single worker sees.")
        return cfg.replace(router="softmax_topk", capacity_factor=None), note
    return cfg, None


def no_drop_config(cfg: MoEConfig) -> MoEConfig:
    """`cfg` with no copy ever dropped: no capacity limit, or, for a router that always has one (Switch), a
    factor N / k, so C = ceil(N/k · T · k / N) = T slots per expert, and an expert gets at most T copies."""
    free = cfg.replace(capacity_factor=None)
    return free if free.effective_capacity_factor is None else cfg.replace(capacity_factor=cfg.num_experts / cfg.top_k)


def limit_config(cfg: MoEConfig) -> MoEConfig:
    """`cfg` under its own capacity factor, or DEFAULT_LIMIT when it has none."""
    return cfg if cfg.effective_capacity_factor is not None else cfg.replace(capacity_factor=DEFAULT_LIMIT)


def imbalance_demo(cfg: MoEConfig, num_tokens: int, skew: float, world_size: int, repeats: int = 5) -> dict:
    """{"balanced", "skewed", "skewed_capacity"}: each a run {"workers", "step_ms", "round_ms", "max_abs_diff",
    "load_max_over_mean", "dropped_fraction", "capacity_factor", "pool_start_s"}. The first two have no drops
    (no_drop_config), the third is the skewed tokens under limit_config. The three are measured in `repeats`
    interleaved rounds; step_ms is each one's median, round_ms every round's. Raises WorkerError when the
    workers cannot start or a step fails."""
    cases = {"balanced": (no_drop_config(cfg), 0.0), "skewed": (no_drop_config(cfg), skew),
             "skewed_capacity": (limit_config(cfg), skew)}
    layer = MoELayer(cfg.replace(device="cpu")).eval()  # capacity is not a weight: one layer serves all three
    inputs = {label: skewed_tokens(layer, num_tokens, s, cfg.seed + 1, world_size) for label, (_, s) in cases.items()}
    measured = measure_interleaved({label: (c.replace(device="cpu"), inputs[label])
                                    for label, (c, _) in cases.items()}, world_size, repeats)
    out = {}
    for label, (case_cfg, _) in cases.items():
        x, run = inputs[label], measured[label].median
        out[label] = _checked(MoELayer(case_cfg.replace(device="cpu")).eval(), x, world_size, run)
        out[label] |= {"round_ms": measured[label].step_ms, "capacity_factor": case_cfg.effective_capacity_factor}
    return out


def copies_per_worker(cfg: MoEConfig, num_tokens: int, skew: float, world_size: int) -> list[int]:
    """The token copies each worker would receive from the demo's tokens at `skew`, routed in this process with no
    capacity limit and nothing timed: the load the run's skewed (or, at skew 0, balanced) step will see, cheap
    enough to show before the learner starts the workers."""
    layer = MoELayer(no_drop_config(cfg).replace(device="cpu")).eval()
    x = skewed_tokens(layer, num_tokens, skew, cfg.seed + 1, world_size)
    with torch.inference_mode():
        per_expert = layer.route(x).selected_per_expert
    owners = expert_owner(torch.arange(cfg.num_experts), cfg.num_experts, world_size)
    return torch.zeros(world_size, dtype=torch.long).index_add_(0, owners, per_expert.long()).tolist()


def _checked(layer: MoELayer, x: torch.Tensor, world_size: int, run) -> dict:
    """One case's numbers, its output compared with the single-process layer on the same capacity groups."""
    cfg = layer.cfg
    y, dropped = local_group_reference(layer, x, world_size)
    with torch.inference_mode():
        demand = layer.route(x).selected_per_expert.float()
    return {"workers": run.workers, "step_ms": run.step_ms, "pool_start_s": run.pool_start_s,
            "max_abs_diff": float((run.output - y).abs().max()), "dropped_fraction": dropped,
            "load_max_over_mean": float(demand.max() / demand.mean())}  # routing demand, before capacity


def slower_rounds(runs: dict, slow: str = "skewed", fast: str = "balanced") -> int:
    """In how many of the interleaved rounds the `slow` case's step took longer than the `fast` one's."""
    return sum(s > f for s, f in zip(runs[slow]["round_ms"], runs[fast]["round_ms"]))


def slowdown_shown(runs: dict) -> bool:
    """Whether the measured rounds show the lesson (the busiest worker sets the pace): the skewed step slower in
    a majority of the interleaved rounds and in the medians. Anything less is a tie drowned in the noise of
    shared cores, and the page must not read it as the lesson."""
    rounds = len(runs["skewed"]["round_ms"])
    return 2 * slower_rounds(runs) > rounds and runs["skewed"]["step_ms"] > runs["balanced"]["step_ms"]
