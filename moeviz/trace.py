"""RoutingTrace: every intermediate of one MoE forward, named, so views never recompute routing.

Dimension legend (all tensors are detached, on the layer's device, routing maths in float32):
    T = tokens (a (B, S, D) input is flattened to T = B*S, row-major), D = d_model, E = num_experts,
    K = slots per token: top_k for token-choice routers; num_experts for expert_choice, where
        slot j of token t belongs to expert topk_indices[t, j] and is "dropped" when that expert did not pick t.

    input            (T, D)     the token vectors entering the layer
    router_logits    (T, E)     x @ W_router^T (noisy_topk: after the noise, when training)
    router_probs     (T, E)     after the gating function (softmax, or sigmoid for sigmoid_bias)
    selection_scores (T, E)     the scores top-k was taken on (sigmoid_bias: probs + bias; else = probs/logits)
    topk_indices     (T, K)     int64 expert ids, best first
    routed_weights   (T, K)     the gating rule's combine weights, before the capacity limit dropped any slot
    topk_weights     (T, K)     combine weights actually used (0 where a slot was dropped)
    dropped          (T, K)     bool: the slot was selected but lost to the capacity limit (or not picked)
    expert_outputs   (T, K, D)  output of slot j's expert on token t, before weighting (0 where dropped)
    shared_output    (T, D)     the shared expert's output, or None when the layer has none
    demand           (E,)       int64 slots routed to each expert before capacity (the balance loss's f;
                                expert_choice: the tokens it picked)
    tokens_per_expert (E,)      int64 slots each expert actually processed (after drops)
    output           (T, D)     sum_j topk_weights[t, j] * expert_outputs[t, j] (+ shared_output)
    capacity         int|None   C = ceil(cf * T * k / N) slots per expert, None when unlimited

Losses keep their autograd graph (they train the router); metrics are plain Python numbers.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields

import torch

from moeviz.routers import RouterSpec, router_spec

TENSOR_FIELDS = (
    "input", "router_logits", "router_probs", "selection_scores", "topk_indices", "routed_weights", "topk_weights",
    "dropped", "expert_outputs", "shared_output", "demand", "tokens_per_expert", "output",
)
LOSS_FIELDS = ("balance_loss", "z_loss", "cv_loss")


@dataclass
class RoutingTrace:
    router: str
    top_k: int
    num_experts: int
    capacity: int | None
    input: torch.Tensor
    router_logits: torch.Tensor
    router_probs: torch.Tensor
    selection_scores: torch.Tensor
    topk_indices: torch.Tensor
    routed_weights: torch.Tensor
    topk_weights: torch.Tensor
    dropped: torch.Tensor
    expert_outputs: torch.Tensor
    shared_output: torch.Tensor | None
    demand: torch.Tensor
    tokens_per_expert: torch.Tensor
    output: torch.Tensor
    balance_loss: torch.Tensor  # N * sum_i f_i * P_i, 1.0 at perfect balance (moeviz.losses)
    z_loss: torch.Tensor  # mean(logsumexp(router_logits)^2)
    cv_loss: torch.Tensor  # Shazeer's CV^2(importance) + CV^2(load); 0 unless the router adds learned noise
    metrics: dict = field(default_factory=dict)  # routing health (MoELayer._trace) and costs.layer_costs

    @property
    def num_tokens(self) -> int:
        return int(self.router_logits.shape[0])

    @property
    def router_spec(self) -> RouterSpec:
        """What kind of router made this trace (moeviz.routers): read its fields, never compare its name."""
        return router_spec(self.router)

    def to_dict(self) -> dict:
        """Plain lists and numbers (no tensors), ready for JSON or a CSV table."""
        out = {"router": self.router, "top_k": self.top_k, "num_experts": self.num_experts,
               "capacity": self.capacity, "num_tokens": self.num_tokens}
        for name in TENSOR_FIELDS:
            value = getattr(self, name)
            out[name] = None if value is None else value.detach().float().cpu().tolist() \
                if value.dtype.is_floating_point else value.detach().cpu().tolist()
        for name in LOSS_FIELDS:
            out[name] = float(getattr(self, name).detach())
        out["metrics"] = {k: _plain(v) for k, v in self.metrics.items()}
        return out

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)

    def detach(self) -> "RoutingTrace":
        """A copy whose losses no longer hold the autograd graph (for caching and display)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in LOSS_FIELDS:
            values[name] = values[name].detach()
        return RoutingTrace(**values)


def _plain(value):
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
