"""Fine-grained and shared experts measured on the real layer: parameters, expert rows, time, shared share.

The counts of moeviz.costs.granularity_designs, checked on MoELayer itself: the parameters its tensors hold,
the expert rows (one expert on one token) and the matrix multiply-adds its forward runs, its forward time,
and how much of a token's output the shared expert contributes.
"""
from __future__ import annotations

import torch

from moeviz.bench.timing import time_call
from moeviz.config import MoEConfig
from moeviz.costs import design_costs
from moeviz.layer import MoELayer


def measure_design(cfg: MoEConfig, num_tokens: int, repeats: int = 0) -> dict:
    """One design on `num_tokens` seeded tokens: counted costs and what the layer really holds and runs.

    expert_macs_per_token: multiply-adds of the experts' matrices per token, from the rows each expert computed
    and its own weight shapes; expert_flops_per_token the same in FLOPs (2 per multiply-add, as moeviz.costs
    counts), so a page can show one unit throughout. repeats > 0 also times the forward (median ms)."""
    layer = MoELayer(cfg.replace(device="cpu")).eval()
    x = torch.randn(num_tokens, cfg.d_model, generator=torch.Generator().manual_seed(cfg.seed + 1))
    with torch.inference_mode():
        y, trace = layer(x)
        rows = int(trace.tokens_per_expert.sum())
        expert_weights = layer.experts.w_in[0].numel() + layer.experts.w_out[0].numel()
        macs = rows * expert_weights
        shared_share = 0.0
        if trace.shared_output is not None:
            macs += num_tokens * (layer.shared_expert.w_in[0].numel() + layer.shared_expert.w_out[0].numel())
            shared_share = float((trace.shared_output.norm(dim=1) / y.norm(dim=1)).mean())
        timing = time_call(lambda: layer(x), layer.device, repeats) if repeats else None
    return {**design_costs(cfg), "layer_params": sum(p.numel() for p in layer.parameters()),
            "expert_rows": rows, "expert_macs_per_token": macs / num_tokens,
            "expert_flops_per_token": 2 * macs / num_tokens, "shared_share": shared_share,
            "median_ms": timing["median_ms"] if timing else None}


__all__ = ["measure_design"]
