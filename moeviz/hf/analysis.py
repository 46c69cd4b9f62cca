"""Views of one CheckpointRouting across layers, read from its traces (never recomputed), for the pages.

    layer_loads(r)            # (L, E): share of each layer's routed slots that each expert got
    layer_summary(r)          # per layer: max/mean load, load CV, router entropy, balance loss
    journey(r)                # (T, L, k): each token's experts at every MoE layer, best first
    co_selection(r, a, b)     # (E, E) counts: token's top-1 expert at layer a vs at layer b, and their
    mutual_information(c)     #   mutual information in nats (0 = independent, log E = one decides the other)
    expert_tokens(r, l, e)    # the tokens expert e of layer l got, by the router's probability for it
    expert_lift(r, l, e)      # the token strings expert e of layer l gets more often than its base rate
"""
from __future__ import annotations

import math

import numpy as np
import torch

from moeviz.hf.model import CheckpointRouting
from moeviz.lm.analysis import smoothed_lift
from moeviz.routing_stats import mutual_information  # the count table's I(A; B), shared with the balance lab


def layer_loads(routing: CheckpointRouting) -> torch.Tensor:
    """(L, E) share of routed slots per expert; each row sums to 1 (expects layers with the same E)."""
    loads = torch.stack([t.tokens_per_expert.float() for t in routing.traces])
    return loads / loads.sum(dim=1, keepdim=True).clamp(min=1)


def layer_summary(routing: CheckpointRouting) -> list[dict]:
    return [{"layer": layer, "max/mean load": round(t.metrics["max_mean_load"], 3),
             "load CV": round(t.metrics["load_cv"], 3), "router entropy": round(t.metrics["router_entropy"], 3),
             "balance loss": round(float(t.balance_loss), 3)}
            for layer, t in zip(routing.layers, routing.traces)]


def journey(routing: CheckpointRouting) -> torch.Tensor:
    return torch.stack([t.topk_indices for t in routing.traces], dim=1)  # (T, L, k)


def top1_probability(routing: CheckpointRouting) -> torch.Tensor:
    """(T, L): each token's router probability for its top-1 expert at every MoE layer: how sure that layer's
    router was, a number that means the same at every layer (unlike an expert's index)."""
    return torch.stack([t.router_probs.gather(1, t.topk_indices[:, :1]).squeeze(1) for t in routing.traces], dim=1)


def token_window(trace, start: int, stop: int):
    """`trace` cut to tokens start..stop-1 (per-token fields only; tokens_per_expert and metrics stay the whole
    text's): what a page draws when it shows a text in windows of tokens."""
    from dataclasses import fields, replace
    per_token = {f.name: getattr(trace, f.name)[start:stop] for f in fields(trace)
                 if isinstance(getattr(trace, f.name), torch.Tensor) and getattr(trace, f.name).dim() >= 1
                 and getattr(trace, f.name).shape[0] == trace.num_tokens and f.name != "tokens_per_expert"}
    return replace(trace, **per_token)


def co_selection(routing: CheckpointRouting, a: int, b: int) -> torch.Tensor:
    """(E_a, E_b) int64: how many tokens have top-1 expert i at trace a and j at trace b (trace positions)."""
    first, second = routing.traces[a], routing.traces[b]
    pairs = first.topk_indices[:, 0] * second.num_experts + second.topk_indices[:, 0]
    counts = torch.bincount(pairs, minlength=first.num_experts * second.num_experts)
    return counts.view(first.num_experts, second.num_experts)


def consecutive_agreement(routing: CheckpointRouting) -> list[dict]:
    """For each pair of consecutive MoE layers: the mutual information of their top-1 choices, and its maximum."""
    rows = []
    for i in range(len(routing.traces) - 1):
        E = min(routing.traces[i].num_experts, routing.traces[i + 1].num_experts)
        mi = mutual_information(co_selection(routing, i, i + 1))
        rows.append({"layers": f"{routing.layers[i]} → {routing.layers[i + 1]}", "mutual information": round(mi, 3),
                     "ceiling ln N": round(math.log(E), 3)})
    return rows


def expert_tokens(routing: CheckpointRouting, trace_index: int, expert: int, limit: int = 8) -> list[dict]:
    """The tokens that ran on `expert` at trace `trace_index` (any slot), highest router probability first."""
    t = routing.traces[trace_index]
    ran = ((t.topk_indices == expert) & ~t.dropped).any(dim=1)
    probs = t.router_probs[:, expert]
    order = sorted(ran.nonzero().flatten().tolist(), key=lambda i: (-float(probs[i]), i))[:limit]
    return [{"position": i, "token": routing.tokens[i], "probability": round(float(probs[i]), 4)} for i in order]


# One imaginary occurrence per token string: on one short text a string is seen a handful of times, so the
# training-time statistics' heavier smoothing (moeviz.lm.analysis.LIFT_SMOOTHING) would flatten every lift to 1.
TEXT_LIFT_SMOOTHING = 1.0


def _ran_on(routing: CheckpointRouting, trace_index: int, expert: int) -> list[bool]:
    """Per token: did `expert` run on it at this layer (chosen, and its copy not dropped)."""
    t = routing.traces[trace_index]
    return ((t.topk_indices == expert) & ~t.dropped).any(dim=1).tolist()


def expert_base_rate(routing: CheckpointRouting, trace_index: int, expert: int) -> tuple[int, int]:
    """The base rate `expert_lift` compares with, as (tokens that ran on `expert`, tokens in the text)."""
    ran = _ran_on(routing, trace_index, expert)
    return sum(ran), len(ran)


def expert_lift(routing: CheckpointRouting, trace_index: int, expert: int, min_count: int = 2,
                smoothing: float = TEXT_LIFT_SMOOTHING, limit: int = 8) -> list[dict]:
    """Token strings (by token id) that `expert` runs more often than its base rate on this text.

    For a token string w seen n_w times, c_w of them running on the expert, and the expert's base rate p (share
    of all tokens it runs), the score is the smoothed lift ((c_w + a·p) / (n_w + a)) / p with a = `smoothing`:
    1 = no preference, and a token seen once cannot score far above 1 on luck alone. Strings seen fewer than
    `min_count` times are left out; counts are returned so a reader can judge."""
    ran = _ran_on(routing, trace_index, expert)
    base = sum(ran) / max(len(ran), 1)
    if base == 0:
        return []
    seen: dict[int, list[int]] = {}  # token id -> [count in text, count sent to the expert, first position]
    for position, (token_id, hit) in enumerate(zip(routing.token_ids, ran)):
        entry = seen.setdefault(token_id, [0, 0, position])
        entry[0] += 1
        entry[1] += int(hit)
    counts = list(seen.values())
    lifts = smoothed_lift(np.array([c for _, c, _ in counts]), np.array([n for n, _, _ in counts]), base,
                          smoothing=smoothing, min_count=min_count)
    rows = [{"token": routing.tokens[first], "in text": n, "to this expert": c, "lift": round(float(lift), 3)}
            for (n, c, first), lift in zip(counts, lifts) if n >= min_count and c > 0]
    rows.sort(key=lambda r: (-r["lift"], -r["to this expert"], r["token"]))
    return rows[:limit]


__all__ = ["layer_loads", "layer_summary", "journey", "co_selection", "mutual_information",
           "consecutive_agreement", "expert_tokens", "expert_base_rate", "expert_lift"]
