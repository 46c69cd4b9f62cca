"""Router losses and routing-health metrics. Pure functions on tensors.

Every loss here is per layer: average over layers yourself when a model has several. (Parameter and FLOP
counts are in moeviz.costs.)
"""
from __future__ import annotations

from typing import NamedTuple

import torch


def load_balance_loss(router_probs: torch.Tensor, selected_per_expert: torch.Tensor) -> torch.Tensor:
    """Switch Transformer eq. 4-6: N * sum_i f_i * P_i.

    f_i = share of the T*k routed slots that chose expert i (counted before capacity drops, not differentiable),
    P_i = mean router probability of expert i (carries the gradient). Perfect balance (f_i = P_i = 1/N) gives 1.0,
    but 1.0 is not a floor: when the busiest experts get lower mean probability than the rest it dips below 1.
    HF Mixtral's load_balancing_loss_func normalises f over T instead of T*k, so it reports k at perfect balance.
    router_probs (T, E) should sum to 1 per token (renormalise sigmoid scores first); selected_per_expert (E,)."""
    num_experts = router_probs.shape[-1]
    f = selected_per_expert.float() / selected_per_expert.sum().clamp(min=1)
    P = router_probs.float().mean(dim=0)
    return num_experts * torch.sum(f * P)


def z_loss(router_logits: torch.Tensor) -> torch.Tensor:
    """ST-MoE (Zoph et al. 2022) eq. 5: mean over tokens of logsumexp(logits)^2; keeps router logits small."""
    return torch.logsumexp(router_logits.float(), dim=-1).pow(2).mean()


def cv_squared(x: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Squared coefficient of variation, var / mean^2 (unbiased variance)."""
    x = x.float()
    if x.numel() <= 1:
        return x.new_zeros(())
    return x.var() / (x.mean() ** 2 + eps)


def shazeer_balance_loss(importance: torch.Tensor, load: torch.Tensor) -> torch.Tensor:
    """Shazeer et al. 2017, eq. 6-7 and 11: CV^2(importance) + CV^2(load), each weighted by the caller.

    importance_i = sum of gate values sent to expert i; load_i = smooth count from router.noisy_topk_load."""
    return cv_squared(importance) + cv_squared(load)


def router_entropy(router_probs: torch.Tensor) -> torch.Tensor:
    """Mean per-token entropy (nats) of the routing distribution; log(E) = undecided, 0 = certain.

    router_probs (T, E) must sum to 1 per token (renormalise sigmoid scores first)."""
    return torch.special.entr(router_probs.float()).sum(dim=-1).mean()


def load_stat_tensors(tokens_per_expert: torch.Tensor) -> torch.Tensor:
    """[load CV (population std / mean), max/mean load (MaxVio + 1)]: 0 and 1 when perfectly even.

    One tensor, so a caller can read many metrics in one device sync."""
    load = tokens_per_expert.float()
    mean = load.mean().clamp(min=1e-20)  # an all-idle layer reads as CV 0, max/mean 0
    return torch.stack([load.std(unbiased=False) / mean, load.max() / mean])


class RoutingHealth(NamedTuple):
    metrics: dict  # load_cv, max_mean_load, router_entropy, dropped_fraction, tokens_dropped_fraction, ...
    balance_loss: torch.Tensor  # load_balance_loss on the demand (before capacity)
    z_loss: torch.Tensor


def trace_metrics(router_logits: torch.Tensor, router_probs: torch.Tensor, demand: torch.Tensor,
                  tokens_per_expert: torch.Tensor, dropped: torch.Tensor, probs_sum_to_one: bool,
                  experts_choose: bool) -> RoutingHealth:
    """The routing health every RoutingTrace carries, for the moeviz layer and a checkpoint's routing alike.

    demand (E,) slots routed to each expert before capacity (the balance loss's f), tokens_per_expert (E,) after
    it, dropped (T, K) bool. Sigmoid scores (probs_sum_to_one False) are renormalised per token first."""
    T, E = router_probs.shape
    probs = router_probs if probs_sum_to_one else router_probs / router_probs.sum(dim=-1, keepdim=True)
    # All scalar metrics in one tensor, read back with a single sync (matters on a GPU).
    load_cv, max_mean_load, entropy, dropped_slots, dead_tokens = torch.cat([
        load_stat_tensors(tokens_per_expert),
        torch.stack([router_entropy(probs), dropped.float().mean(), dropped.all(dim=1).float().mean()])]).tolist()
    metrics = {
        "load_cv": load_cv, "max_mean_load": max_mean_load, "router_entropy": entropy,
        # Expert choice has no overflow; its failure mode is a token that no expert picked.
        "dropped_fraction": dead_tokens if experts_choose else dropped_slots,
        "tokens_dropped_fraction": dead_tokens, "dense_expert_rows": T * E,
    }
    return RoutingHealth(metrics, load_balance_loss(probs, demand), z_loss(router_logits))
