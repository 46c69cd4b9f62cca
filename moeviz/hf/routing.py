"""Each checkpoint family's routing rule, applied to the model's own router logits.

Pure functions `(router_logits, router_module) -> Routing` (moeviz.router.Routing: router_probs,
selection_scores, topk_indices, topk_weights). The rule's constants come from the router module itself
(norm_topk_prob, e_score_correction_bias, routed_scaling_factor, n_group/topk_group), so a checkpoint's own
settings are used. Each rule follows the router's forward in transformers 5.24.0
(models/<family>/modeling_<family>.py); tests check every one against what the model's experts received.
Where the model rounds the combine weights to its dtype (OLMoE, Qwen, GPT-OSS, Granite) the rule does too, so a
bf16 trace holds the weights the bf16 model used.
"""
from __future__ import annotations

import torch
from torch import nn

from moeviz import router as gating
from moeviz.router import Routing


def softmax_topk(router_logits: torch.Tensor, router: nn.Module, round_to_logits: bool = True) -> Routing:
    """Mixtral, OLMoE, Qwen2-MoE, Qwen3-MoE: softmax over all experts in fp32, top-k, renormalise if the
    config's norm_topk_prob says so (Mixtral's router always renormalises; OLMoE's config says no)."""
    norm = bool(getattr(router, "norm_topk_prob", True))
    r = gating.softmax_topk(router_logits, router.top_k, norm)
    return _round(r, router_logits.dtype) if round_to_logits else r


def mixtral(router_logits: torch.Tensor, router: nn.Module) -> Routing:
    """Mixtral keeps the renormalised weights in fp32 (MixtralTopKRouter has no cast back)."""
    return softmax_topk(router_logits, router, round_to_logits=False)


def topk_softmax(router_logits: torch.Tensor, router: nn.Module) -> Routing:
    """GPT-OSS (logits include the router bias) and GraniteMoE: top-k on the logits, softmax over the k kept."""
    return _round(gating.topk_softmax(router_logits, router.top_k), router_logits.dtype)


def granitemoe(router_logits: torch.Tensor, router: nn.Module) -> Routing:
    """GraniteMoE computes its logits in fp32, then casts the weights to the hidden states' (= weights') dtype."""
    return _round(gating.topk_softmax(router_logits, router.top_k), router.weight.dtype)


def deepseek_v3(router_logits: torch.Tensor, router: nn.Module) -> Routing:
    """DeepSeek-V3: moeviz's sigmoid_bias rule with the router's own constants (e_score_correction_bias as the
    selection bias, n_group/topk_group, norm_topk_prob), times routed_scaling_factor."""
    r = gating.sigmoid_bias(router_logits, router.top_k, router.e_score_correction_bias, router.norm_topk_prob,
                            router.num_group, router.topk_group)
    return _ordered(r._replace(topk_weights=r.topk_weights * router.routed_scaling_factor))


def deepseek_v2(router_logits: torch.Tensor, router: nn.Module) -> Routing:
    """DeepSeek-V2: softmax in fp32; "greedy" top-k, or "group_limited_greedy" (top-k inside the topk_group
    groups with the largest single expert score); weights = the probabilities times routed_scaling_factor,
    not renormalised (transformers 5.24's DeepseekV2TopkRouter has no norm_topk_prob step)."""
    probs = torch.softmax(router_logits.float(), dim=-1)
    allowed = torch.ones_like(probs, dtype=torch.bool)
    if router.topk_method == "group_limited_greedy":
        allowed = gating.group_limited(probs, router.num_group, router.topk_group, gating.best_in_group)
    # masked experts get 0, as the model fills them (probabilities are positive, so never chosen over one)
    topk_indices = torch.topk(probs.masked_fill(~allowed, 0.0), k=router.top_k, dim=-1).indices
    topk_weights = probs.gather(-1, topk_indices) * router.routed_scaling_factor
    return _ordered(Routing(probs, probs, topk_indices, topk_weights))


def _ordered(r: Routing) -> Routing:
    """Slots sorted by combine weight, best first (DeepSeek's routers use an unsorted top-k)."""
    order = torch.argsort(r.topk_weights, dim=-1, descending=True, stable=True)
    return r._replace(topk_indices=r.topk_indices.gather(-1, order), topk_weights=r.topk_weights.gather(-1, order))


def _round(r: Routing, dtype: torch.dtype) -> Routing:
    """The combine weights rounded to `dtype` as the model does, kept as float32 in the trace."""
    return r._replace(topk_weights=r.topk_weights.to(dtype).float())
