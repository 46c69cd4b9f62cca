"""Parameter and FLOP counts of one MoE layer: what it stores, what one token uses, and the k/N rule of thumb.

Counts, not measurements (the measured times are moeviz.bench's). FLOPs = 2 * multiply-adds of the matmuls.
Pure Python on a few integers: the layer puts layer_costs into every RoutingTrace's metrics, and /compute
draws cost_summary.
"""
from __future__ import annotations

from moeviz.config import MoEConfig


def layer_costs(d_model: int, d_hidden: int, num_experts: int, experts_per_token: float,
                activation: str, shared_expert: bool) -> dict:
    """Parameter and FLOP counts of one MoE layer. FLOPs = 2 * multiply-adds of the matmuls, per token.

    Active parameters are those a single token touches: the router, experts_per_token experts, the shared
    expert. Dense-all runs every expert on every token."""
    matrices = 3 if activation == "swiglu" else 2
    per_expert = matrices * d_model * d_hidden
    router = d_model * num_experts
    shared = per_expert if shared_expert else 0
    return {
        "params_per_expert": per_expert,
        "total_params": router + num_experts * per_expert + shared,
        "active_params": router + experts_per_token * per_expert + shared,
        "active_flops_per_token": 2 * (router + experts_per_token * per_expert + shared),
        "dense_flops_per_token": 2 * (router + num_experts * per_expert + shared),
        "dense_equivalent_flops_per_token": 2 * (experts_per_token * per_expert + shared),
    }


def cost_summary(cfg: MoEConfig) -> dict:
    """Parameters and FLOPs per token of this config, and how close the k/N rule of thumb gets.

    The rule of thumb counts experts only: active expert params / all expert params = k/N exactly; the router
    (and a shared expert) make the real active share of the whole layer a little larger."""
    k = cfg.top_k  # expert choice: k experts per token on average (capacity factor 1)
    costs = layer_costs(cfg.d_model, cfg.d_hidden, cfg.num_experts, k, cfg.activation, cfg.shared_expert)
    expert_params = cfg.num_experts * costs["params_per_expert"]
    return {
        **costs,
        "expert_params": expert_params,
        "rule_of_thumb_share": k / cfg.num_experts,
        "active_share": costs["active_params"] / costs["total_params"],
        "active_expert_share": k * costs["params_per_expert"] / expert_params,
    }
