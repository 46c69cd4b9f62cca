"""Fine-grained and shared experts measured on the real layer: parameters, expert rows, time, shared share.

The counts of moeviz.costs.granularity_designs, checked on MoELayer itself: the parameters its tensors hold,
the expert rows (one expert on one token) and the matrix multiply-adds its forward runs, its forward time,
and how much of a token's output the shared expert contributes.
"""
from __future__ import annotations

import torch

from moeviz.bench.timing import time_interleaved
from moeviz.config import MoEConfig
from moeviz.costs import design_costs
from moeviz.layer import MoELayer


def _layer_and_tokens(cfg: MoEConfig, num_tokens: int) -> tuple[MoELayer, torch.Tensor]:
    layer = MoELayer(cfg.replace(device="cpu")).eval()
    return layer, torch.randn(num_tokens, cfg.d_model, generator=torch.Generator().manual_seed(cfg.seed + 1))


def measure_design(cfg: MoEConfig, num_tokens: int) -> dict:
    """One design on `num_tokens` seeded tokens: counted costs and what the layer really holds and runs.

    expert_macs_per_token: multiply-adds of the experts' matrices per token, from the rows each expert computed
    and its own weight shapes; expert_flops_per_token the same in FLOPs (2 per multiply-add, as moeviz.costs
    counts), so a page can show one unit throughout. Timing is time_designs' (all designs interleaved)."""
    layer, x = _layer_and_tokens(cfg, num_tokens)
    with torch.inference_mode():
        y, trace = layer(x)
        rows = int(trace.tokens_per_expert.sum())
        expert_weights = layer.experts.w_in[0].numel() + layer.experts.w_out[0].numel()
        macs = rows * expert_weights
        shared_share = 0.0
        if trace.shared_output is not None:
            macs += num_tokens * (layer.shared_expert.w_in[0].numel() + layer.shared_expert.w_out[0].numel())
            shared_share = float((trace.shared_output.norm(dim=1) / y.norm(dim=1)).mean())
    return {**design_costs(cfg), "layer_params": sum(p.numel() for p in layer.parameters()),
            "expert_rows": rows, "expert_macs_per_token": macs / num_tokens,
            "expert_flops_per_token": 2 * macs / num_tokens, "shared_share": shared_share}


def time_designs(cfgs: dict[str, MoEConfig], num_tokens: int, repeats: int) -> dict[str, dict]:
    """Each design's forward time on `num_tokens` seeded tokens, timed in interleaved rounds: its summary
    (median_ms, p95_ms, ..., and samples_ms, one per round, so two designs' samples pair up turn by turn).

    Timed one after another, the first design also paid for the process's first matrix products (thread pool,
    allocator) and caught whatever load the shared cores had then: on a fresh server /compute showed the
    coarse layer slowest, and a re-time reversed the order. So every design runs once untimed before any is
    timed, and then the designs take turns call by call (time_interleaved, one timed call per round), so a burst
    of load from other users falls on all four alike."""
    built = {label: _layer_and_tokens(cfg, num_tokens) for label, cfg in cfgs.items()}
    fns = {label: (lambda layer=layer, x=x: layer(x)) for label, (layer, x) in built.items()}
    with torch.inference_mode():
        for fn in fns.values():  # warm-up of the process and of every design, before any timed call
            fn()
        times = time_interleaved(fns, torch.device("cpu"), repeats, rounds=repeats)
    return times


__all__ = ["measure_design", "time_designs"]
