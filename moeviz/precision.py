"""Why routing is done in fp32: the same router logits, routed exactly and after rounding to bfloat16.

bfloat16 keeps 8 significant bits, so the gap between neighbouring values grows with the value: 1/64 near 2,
1/8 near 20, 1/2 near 64. What decides a token's experts is the *differences* between its logits; what decides
the rounding is their *size*. Scaling every logit by s scales the differences too, so the rounding stays as
likely to swap two experts (almost never here); a shift shared by every logit (which the softmax ignores in
exact arithmetic, and which only the z-loss keeps in check: it pulls the log-sum-exp to 0) makes the logits
large while their differences stay small, and then bfloat16 rounds the differences away.

Who routes in fp32 (transformers as of 5.x): DeepSeek-V3 computes its router logits in fp32; Mixtral, OLMoE
and Qwen-MoE compute them in the model's dtype (bf16) and only the softmax in fp32; GraniteMoE casts the logits
to fp32 after a bf16 matmul; GPT-OSS does both in bf16. Megatron-Core's `moe_router_dtype` (fp32 / fp64) is
off by default. moeviz.router routes in fp32.
"""
from __future__ import annotations

import math

import torch

from moeviz.config import MoEConfig
from moeviz.layer import MoELayer
from moeviz.router import softmax_topk

SHIFTS = (0.0, 4.0, 16.0, 64.0)  # added to every logit of a token: the size grows, the differences do not


def bfloat16_step(value: float) -> float:
    """The gap between neighbouring bfloat16 numbers around `value` (2^(exponent - 7))."""
    return 2.0 ** (math.floor(math.log2(abs(value))) - 7) if value else 0.0


def rounding_effect(router_logits: torch.Tensor, top_k: int) -> dict:
    """Softmax -> top-k on fp32 logits vs the same logits rounded to bfloat16 (routing maths itself in fp32).

    Returns the largest |logit|, the bfloat16 step there, the largest change of a router probability and of a
    combine weight, the share of tokens whose chosen experts differ, and the share whose k-th and (k+1)-th
    logits became equal (a tie that only the expert's index then breaks)."""
    exact = softmax_topk(router_logits.float(), top_k)
    rounded = softmax_topk(router_logits.to(torch.bfloat16).float(), top_k)
    same = exact.topk_indices.sort(dim=-1).values == rounded.topk_indices.sort(dim=-1).values
    largest = float(router_logits.abs().max())
    weights_close = same.all(dim=-1, keepdim=True)  # compare weights only where the same experts were chosen
    weight_error = ((exact.topk_weights - rounded.topk_weights).abs() * weights_close).max()
    return {"largest_logit": largest, "bf16_step": bfloat16_step(largest),
            "max_prob_error": float((exact.router_probs - rounded.router_probs).abs().max()),
            "max_weight_error": float(weight_error),
            "changed_choice": float((~same.all(dim=-1)).float().mean()),
            "tied_choice": _tied_at_k(router_logits.to(torch.bfloat16).float(), top_k)}


def _tied_at_k(logits: torch.Tensor, top_k: int) -> float:
    if top_k >= logits.shape[-1]:
        return 0.0
    ranked = logits.topk(top_k + 1, dim=-1).values
    return float((ranked[:, top_k - 1] == ranked[:, top_k]).float().mean())


def precision_demo(num_experts: int, top_k: int, seed: int, num_tokens: int = 256) -> list[dict]:
    """rounding_effect for a random layer's router logits on seeded tokens, with each of SHIFTS added to every
    logit (rows {"shift", ...rounding_effect's keys})."""
    cfg = MoEConfig(d_model=32, d_hidden=8, num_experts=num_experts, top_k=top_k, seed=seed, device="cpu")
    x = torch.randn(num_tokens, cfg.d_model, generator=torch.Generator().manual_seed(seed + 1))
    with torch.inference_mode():
        logits = MoELayer(cfg).eval()(x)[1].router_logits
    return [{"shift": s, **rounding_effect(logits + s, top_k)} for s in SHIFTS]


__all__ = ["SHIFTS", "bfloat16_step", "rounding_effect", "precision_demo"]
