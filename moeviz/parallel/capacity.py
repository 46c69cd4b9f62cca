"""Expert buffers under a capacity limit: which token copies got a slot and which overflowed (were dropped).

An expert has C = ceil(cf * T * k / N) slots. Token copies queue for them in priority order:
    position     - all first choices before second choices, earlier tokens first (Switch / GShard)
    probability  - higher router weight first (batch-prioritised routing, Riquelme et al. 2021)
The layer decides the drops (moeviz.dispatch.capacity_drops); this module only lays them out for a figure.
A token whose every copy was dropped gets 0 from the MoE layer, so the block passes on only its residual, x.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from moeviz.config import MoEConfig
from moeviz.layer import MoELayer
from moeviz.trace import RoutingTrace


@dataclass(frozen=True)
class Slot:
    token: int
    choice: int  # 0 = the token's first choice
    weight: float  # router probability of this expert for this token (what "probability" priority ranks by)
    kept: bool


def expert_buffers(trace: RoutingTrace, policy: str) -> list[list[Slot]]:
    """Per expert, its token copies in queue order: kept ones (in their slots) first, then the overflow."""
    if trace.router == "expert_choice":
        raise ValueError("expert choice has no overflow: each expert picks exactly C tokens.")
    T, K = trace.topk_indices.shape
    weights = _weights_before_drops(trace)
    queues: list[list[Slot]] = [[] for _ in range(trace.num_experts)]
    for j in range(K):  # choice-major, token order: the position policy's queue
        for t in range(T):
            e = int(trace.topk_indices[t, j])
            queues[e].append(Slot(t, j, float(weights[t, j]), not bool(trace.dropped[t, j])))
    if policy == "probability":
        queues = [sorted(q, key=lambda s: -s.weight) for q in queues]  # stable: ties keep position order
    return [[s for s in q if s.kept] + [s for s in q if not s.kept] for q in queues]


def _weights_before_drops(trace: RoutingTrace) -> torch.Tensor:
    """The router's probability for each chosen expert (dropped slots have weight 0 in topk_weights)."""
    return trace.router_probs.gather(1, trace.topk_indices).float().cpu()


def capacity_demo(cfg: MoEConfig, num_tokens: int, token_seed: int) -> tuple[torch.Tensor, RoutingTrace]:
    """Seeded random tokens through the layer of `cfg` (eval mode): (x (T, D), trace)."""
    layer = MoELayer(cfg.replace(device="cpu")).eval()
    x = torch.randn(num_tokens, cfg.d_model, generator=torch.Generator().manual_seed(token_seed))
    with torch.inference_mode():
        _, trace = layer(x)
    return x, trace


def dropped_tokens(trace: RoutingTrace) -> list[int]:
    """Tokens that lost every copy: the MoE layer gives them nothing, only the residual path carries them."""
    return (trace.dropped.all(dim=1)).nonzero().squeeze(1).tolist()
