"""Gating rules: router logits -> (probabilities, chosen experts, combine weights).

Pure functions on float32 tensors, one per real system, so each reads like the paper or model code it names.
Shapes: T tokens, E experts, k experts per token. Each returns a `Routing`.
"""
from __future__ import annotations

from typing import NamedTuple

import torch


class Routing(NamedTuple):
    router_probs: torch.Tensor  # (T, E) after the gating function
    selection_scores: torch.Tensor  # (T, E) what top-k was taken on
    topk_indices: torch.Tensor  # (T, k) int64, best first
    topk_weights: torch.Tensor  # (T, k) combine weights before any capacity drop
    not_picked: torch.Tensor | None = None  # (T, K) bool, experts-choose routers only: the slot's expert passed


def softmax_topk(router_logits: torch.Tensor, top_k: int, norm_topk_prob: bool = True) -> Routing:
    """Mixtral / Qwen-MoE / OLMoE: softmax over all experts in fp32, keep the k largest, optionally renormalise."""
    router_probs = torch.softmax(router_logits.float(), dim=-1)
    topk_weights, topk_indices = torch.topk(router_probs, top_k, dim=-1)
    if norm_topk_prob:
        topk_weights = topk_weights / topk_weights.sum(dim=-1, keepdim=True)
    return Routing(router_probs, router_probs, topk_indices, topk_weights)


def topk_softmax(router_logits: torch.Tensor, top_k: int) -> Routing:
    """GPT-OSS: top-k on the raw logits, then a softmax over only the k kept.

    Equal in value to softmax -> top-k -> renormalise (the softmax is monotonic), but the ordering of the
    operations is what GPT-OSS runs; router_probs shows the full softmax for comparison."""
    logits = router_logits.float()
    top_logits, topk_indices = torch.topk(logits, top_k, dim=-1)
    topk_weights = torch.softmax(top_logits, dim=-1)
    return Routing(torch.softmax(logits, dim=-1), logits, topk_indices, topk_weights)


def sigmoid_bias(router_logits: torch.Tensor, top_k: int, selection_bias: torch.Tensor,
                 norm_topk_prob: bool = True, n_group: int = 1, topk_group: int | None = None) -> Routing:
    """DeepSeek-V3: sigmoid scores; a per-expert bias shifts *which* experts are chosen but not their weights.

    The gate values come from the unbiased scores of the chosen experts, renormalised to sum to 1.
    With n_group > 1 the experts form n_group equal groups (in DeepSeek-V3, the experts of one node) and each
    token chooses only inside its topk_group best groups (`group_limited`): node-limited routing. With one
    group that step is a no-op. (DeepSeek-V3 then multiplies the gates by routed_scaling_factor, 2.5; left out.)"""
    scores = torch.sigmoid(router_logits.float())
    selection_scores = scores + selection_bias.float()
    allowed = group_limited(selection_scores, n_group, topk_group or n_group)
    topk_indices = torch.topk(selection_scores.masked_fill(~allowed, float("-inf")), top_k, dim=-1).indices
    topk_weights = scores.gather(-1, topk_indices)
    if norm_topk_prob:
        topk_weights = topk_weights / (topk_weights.sum(dim=-1, keepdim=True) + 1e-20)
    return Routing(scores, selection_scores, topk_indices, topk_weights)


def group_limited(selection_scores: torch.Tensor, n_group: int, topk_group: int,
                  group_score=None) -> torch.Tensor:
    """DeepSeek's group-limited selection: which experts a token may choose, (T, E) bool.

    Experts g*G .. g*G + G-1 form group g (G = E / n_group); a token keeps its topk_group best groups.
    A group's score is `group_score` of its (T, n_group, G) scores: by default the sum of its two best
    (DeepSeek-V3); DeepSeek-V2 used the best one alone (`best_in_group`)."""
    T, E = selection_scores.shape
    if topk_group >= n_group:
        return torch.ones_like(selection_scores, dtype=torch.bool)
    grouped = selection_scores.view(T, n_group, E // n_group)
    group_scores = (group_score or two_best_in_group)(grouped)  # (T, n_group)
    kept = torch.topk(group_scores, topk_group, dim=-1).indices
    group_mask = torch.zeros_like(group_scores, dtype=torch.bool).scatter_(1, kept, True)
    return group_mask.repeat_interleave(E // n_group, dim=1)


def two_best_in_group(grouped: torch.Tensor) -> torch.Tensor:
    """DeepSeek-V3's group score: the sum of the group's two best selection scores. (T, n_group, G) -> (T, n_group)"""
    return grouped.topk(min(2, grouped.shape[-1]), dim=-1).values.sum(dim=-1)


def best_in_group(grouped: torch.Tensor) -> torch.Tensor:
    """DeepSeek-V2's group score: the group's single best score. (T, n_group, G) -> (T, n_group)"""
    return grouped.max(dim=-1).values


def update_selection_bias(selection_bias: torch.Tensor, tokens_per_expert: torch.Tensor,
                          rate: float) -> torch.Tensor:
    """DeepSeek-V3's auxiliary-loss-free balancing: b_i += u * sign(mean load - load_i).

    Overloaded experts get a lower bias (chosen less next time), idle ones a higher bias. Returns a new tensor."""
    load = tokens_per_expert.float()
    return selection_bias + rate * torch.sign(load.mean() - load)


def noisy_topk(noisy_logits: torch.Tensor, top_k: int) -> Routing:
    """Shazeer et al. 2017, eq. 3-5: keep the top-k of the noisy logits H(x), softmax over those k only.

    That is topk_softmax applied to H(x) = clean + N(0,1) * softplus(x @ W_noise) in training, = clean at
    inference; the noise itself and its load estimate (noisy_topk_load) are what make the variant."""
    return topk_softmax(noisy_logits, top_k)


def switch(router_logits: torch.Tensor) -> Routing:
    """Switch Transformer: top-1 of the softmax; the gate is that probability itself (not renormalised to 1)."""
    router_probs = torch.softmax(router_logits.float(), dim=-1)
    topk_weights, topk_indices = torch.topk(router_probs, 1, dim=-1)
    return Routing(router_probs, router_probs, topk_indices, topk_weights)


def expert_choice(router_logits: torch.Tensor, capacity: int):
    """Zhou et al. 2022: each expert takes the `capacity` tokens with the highest affinity for it.

    Affinities are the per-token softmax over experts. Returns (router_probs (T,E), picked (T,E) bool,
    gates (T,E) with the affinity where picked, else 0). A token may get 0..E experts; in a decoder this
    looks at the whole sequence, so it leaks future tokens into the choice for earlier ones."""
    router_probs = torch.softmax(router_logits.float(), dim=-1)
    T = router_probs.shape[0]
    top_tokens = torch.topk(router_probs.t(), min(capacity, T), dim=-1).indices  # (E, C)
    picked = torch.zeros_like(router_probs, dtype=torch.bool).t()
    picked.scatter_(1, top_tokens, True)
    picked = picked.t()  # (T, E)
    return router_probs, picked, router_probs * picked


def expert_choice_routing(router_logits: torch.Tensor, capacity: int) -> Routing:
    """Expert choice as K = E slots per token, best expert first; `not_picked` marks the experts that passed."""
    router_probs, picked, gates = expert_choice(router_logits, capacity)
    topk_indices = torch.argsort(router_probs, dim=-1, descending=True, stable=True)  # (T, E)
    return Routing(router_probs, router_probs, topk_indices, gates.gather(1, topk_indices),
                   ~picked.gather(1, topk_indices))


def noisy_topk_load(clean_logits: torch.Tensor, noisy_logits: torch.Tensor, noise_std: torch.Tensor,
                    top_k: int) -> torch.Tensor:
    """Shazeer et al. 2017, Appendix A (eq. 8-10): the smooth estimate of how many tokens each expert gets.

    P(x, i) = Phi((clean_i - kth_excluding(H, k, i)) / noise_std_i): the chance expert i stays in the top-k
    if only its own noise is redrawn. Differentiable, unlike a count. Returns (E,)."""
    T, E = noisy_logits.shape
    if top_k >= E:  # every expert is always chosen: nothing for the noise to change
        return clean_logits.new_full((E,), float(T))
    top_vals = torch.topk(noisy_logits, top_k + 1, dim=-1).values
    kth = top_vals[:, top_k - 1: top_k]  # the bar an expert outside the top-k must beat
    next_best = top_vals[:, top_k: top_k + 1]  # the bar an expert inside must stay above
    is_in = noisy_logits > next_best
    normal = torch.distributions.Normal(0.0, 1.0)
    prob_if_in = normal.cdf((clean_logits - next_best) / noise_std)
    prob_if_out = normal.cdf((clean_logits - kth) / noise_std)
    return torch.where(is_in, prob_if_in, prob_if_out).sum(dim=0)
