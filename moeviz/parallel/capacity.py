"""Expert buffers under a capacity limit: which token copies got a slot and which overflowed (were dropped).

An expert has C = ceil(cf * T * k / N) slots. Token copies (slots) queue for them in the drop policy's order
(moeviz.dispatch.slot_queue):
    position  - all first choices before any second choice, earlier tokens first (GShard, Switch)
    priority  - all first choices before any second choice; within a choice, the tokens whose largest router
                probability is higher go first (V-MoE's batch prioritized routing, Riquelme et al. 2021)
    weight    - each copy by its own combine weight, whatever its choice (Megatron-Core's "probs" policy)
The layer decides the drops (moeviz.dispatch.capacity_drops); this module lays them out for a figure, in the
layer's own queue order. A token that lost every copy gets 0 from the MoE layer: the block passes on only x.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from moeviz.config import MoEConfig
from moeviz.dispatch import slot_queue
from moeviz.layer import MoELayer
from moeviz.trace import RoutingTrace


@dataclass(frozen=True)
class Slot:
    token: int
    choice: int  # 0 = the token's first choice
    prob: float  # router probability of this expert for this token (what "priority" ranks tokens by)
    weight: float  # combine weight the copy would get if kept (what "weight" ranks copies by)
    kept: bool


class CapacityDemo(NamedTuple):
    x: torch.Tensor  # (T, D) the seeded tokens
    trace: RoutingTrace

    @property
    def routed_weights(self) -> torch.Tensor:
        """(T, K) combine weights before the capacity limit (the trace's topk_weights are 0 where dropped)."""
        return self.trace.routed_weights.float()


def capacity_demo(cfg: MoEConfig, num_tokens: int, token_seed: int) -> CapacityDemo:
    """Seeded random tokens through the layer of `cfg` (eval mode)."""
    layer = MoELayer(cfg.replace(device="cpu")).eval()
    x = torch.randn(num_tokens, cfg.d_model, generator=torch.Generator().manual_seed(token_seed))
    with torch.inference_mode():
        _, trace = layer(x)
    return CapacityDemo(x, trace)


def expert_buffers(demo: CapacityDemo, policy: str) -> list[list[Slot]]:
    """Per expert, its token copies in queue order: the first C are in its slots, the rest overflowed."""
    trace = demo.trace
    if trace.router_spec.experts_choose:
        raise ValueError("expert choice has no overflow: each expert picks exactly C tokens.")
    T, _ = trace.topk_indices.shape
    probs = trace.router_probs.gather(1, trace.topk_indices).float().cpu()
    queues: list[list[Slot]] = [[] for _ in range(trace.num_experts)]
    for slot in slot_queue(trace.topk_indices, demo.routed_weights, policy, trace.router_probs).tolist():
        j, t = divmod(slot, T)
        e = int(trace.topk_indices[t, j])
        queues[e].append(Slot(t, j, float(probs[t, j]), float(demo.routed_weights[t, j]),
                              not bool(trace.dropped[t, j])))
    return queues


def dropped_tokens(trace: RoutingTrace) -> list[int]:
    """Tokens that lost every copy: the MoE layer gives them nothing, only the residual path carries them."""
    return (trace.dropped.all(dim=1)).nonzero().squeeze(1).tolist()
