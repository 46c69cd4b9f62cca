"""One MoE block's captured tensors -> a moeviz RoutingTrace, with the family's own routing rule.

Fields filled as for moeviz.MoELayer (see moeviz/trace.py), with these differences:
    router             the moeviz router that routes alike (metrics["routing_rule"] says the family's rule)
    dropped            all False: transformers' MoE blocks have no capacity limit at inference
    routed_weights     = topk_weights, and demand = tokens_per_expert (nothing is dropped)
    capacity           None
    topk_weights       what the block multiplied each expert's output by (DeepSeek: × routed_scaling_factor)
    input, output      the block's input and output (T, D), expert_outputs (T, k, D) per slot from the block's
    shared_output      own experts and the shared expert(s) output: only with states=True, else None
                       (a big model's states would cost far more memory than its routing)
All tensors are on the CPU, routing tensors in float32.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from moeviz import losses
from moeviz.hf.capture import MoEBlock
from moeviz.hf.families import Family
from moeviz.routers import router_spec
from moeviz.trace import RoutingTrace


def build_trace(family: Family, block: MoEBlock, record: dict, states: bool) -> RoutingTrace:
    logits = record["router_logits"]  # (T, E) in the dtype the router produced
    r = family.rule(logits, block.router)
    T, E = logits.shape
    K = r.topk_indices.shape[1]
    tokens_per_expert = torch.bincount(r.topk_indices.reshape(-1), minlength=E)  # no capacity: = the demand
    dropped = torch.zeros(T, K, dtype=torch.bool, device=r.topk_indices.device)
    spec = router_spec(family.moeviz_router)
    health = losses.trace_metrics(logits, r.router_probs, tokens_per_expert, tokens_per_expert, dropped,
                                  spec.probs_sum_to_one, spec.experts_choose)
    metrics = {"layer": block.layer, "family": family.model_type, "routing_rule": family.rule_text,
               **health.metrics, "expert_rows": T * K}
    metrics.update(_router_constants(block.router))
    x = output = expert_outputs = shared_output = None
    if states:
        x, output = record["input"], record["output"]
        expert_outputs = slot_outputs(block, x, r.topk_indices.to(x.device))
        shared_output = _shared_output(family, record)
    cpu = _cpu_float
    return RoutingTrace(
        router=family.moeviz_router, top_k=K, num_experts=E, capacity=None, input=cpu(x),
        router_logits=cpu(logits), router_probs=cpu(r.router_probs), selection_scores=cpu(r.selection_scores),
        topk_indices=r.topk_indices.cpu(), routed_weights=cpu(r.topk_weights), topk_weights=cpu(r.topk_weights),
        dropped=dropped.cpu(), expert_outputs=cpu(expert_outputs), shared_output=cpu(shared_output),
        demand=tokens_per_expert.cpu(), tokens_per_expert=tokens_per_expert.cpu(), output=cpu(output),
        balance_loss=health.balance_loss.cpu(), z_loss=health.z_loss.cpu(), cv_loss=torch.zeros(()),
        metrics=metrics)


def slot_outputs(block: MoEBlock, x: torch.Tensor, topk_indices: torch.Tensor) -> torch.Tensor:
    """(T, k, D): slot j's expert on token t, unweighted, computed by the block's own experts module."""
    T, K = topk_indices.shape
    ones = torch.ones(T, 1, dtype=x.dtype, device=x.device)
    with torch.inference_mode():
        return torch.stack([block.experts(x, topk_indices[:, j:j + 1], ones) for j in range(K)], dim=1)


def _shared_output(family: Family, record: dict) -> torch.Tensor | None:
    if family.shared == "qwen2":  # Qwen2MoeSparseMoeBlock: sigmoid(shared_expert_gate(x)) * shared_expert(x)
        return F.sigmoid(record["shared_gate"]) * record["shared"]
    return record.get("shared")


def _router_constants(router) -> dict:
    """The router's own settings that shape its rule (DeepSeek's groups and scaling, Qwen's renormalisation)."""
    names = ("norm_topk_prob", "routed_scaling_factor", "num_group", "topk_group", "topk_method")
    return {n: getattr(router, n) for n in names if isinstance(getattr(router, n, None), (bool, int, float, str))}


def _cpu_float(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.detach().to("cpu", torch.float32)
