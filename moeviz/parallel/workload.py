"""Inputs for the expert-parallel demo: seeded random tokens, optionally skewed toward worker 0's experts.

Skew imitates a router that has started to collapse (the balance page's lesson) without touching the router:
a share `skew` of the tokens is nudged along the router rows of two experts that worker 0 owns, so the real
router sends them there. Everyone then waits for worker 0.
"""
from __future__ import annotations

import torch

from moeviz.layer import MoELayer
from moeviz.parallel.engine import owner_starts

PUSH = 4.0  # nudge length, in units of the token's own norm: enough to win the top-k, small enough to stay a mix


def skewed_tokens(layer: MoELayer, num_tokens: int, skew: float, seed: int, world_size: int) -> torch.Tensor:
    """(num_tokens, d_model) seeded tokens; a share `skew` (0..1) of them pulled toward worker 0's experts."""
    if not 0.0 <= skew <= 1.0:
        raise ValueError(f"skew must be between 0 and 1, got {skew}.")
    D, E = layer.cfg.d_model, layer.cfg.num_experts
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(num_tokens, D, generator=generator)
    hot = list(range(int(owner_starts(E, world_size)[1]) if world_size > 1 else E))  # worker 0's experts
    pushed = torch.randperm(num_tokens, generator=generator)[: round(skew * num_tokens)]
    rows = layer.router.weight.detach().float().cpu()
    for i, t in enumerate(pushed.tolist()):
        a, b = hot[i % len(hot)], hot[(i + 1) % len(hot)]
        direction = rows[a] + rows[b]
        x[t] += PUSH * x[t].norm() * direction / direction.norm()
    return x
