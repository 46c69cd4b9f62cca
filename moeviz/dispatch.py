"""Sending token copies ("slots") to their experts and bringing the results back.

A slot is one (token t, choice j) pair; K slots per token. Only active (not dropped) slots are computed.
Strategies, all returning expert_outputs (T, K, D) with zeros in inactive slots:
    padded  - each expert's rows copied into an (E, C_max, D) buffer, one batched matmul per projection;
              fastest for small batches, where per-expert Python overhead dominates; costs padding rows
    grouped - rows sorted by expert, one matmul per *active* expert on its contiguous block (split-and-loop);
              no padding, best for large batches and for batches that leave many experts idle
(HF Mixtral's per-expert loop, the common peer, lives in moeviz.bench for comparison.)
Both sort the active slots by expert with `group_slots`, the permutation the expert-parallel engine
(moeviz.parallel.engine) sends and runs its rows by as well (`forward_by_expert`).
The combine is one batched (1, K) @ (K, D) per token over a fixed-shape tensor: deterministic.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from moeviz.experts import Experts

STRATEGIES = ("auto", "padded", "grouped")
# "auto" (from `python -m moeviz.bench dispatch`): pad while most experts are busy and their blocks are small;
# group when blocks are big (one matmul per expert is then efficient and the padding copy is not free) or when
# many experts are idle (a padded batched matmul would still stream every idle expert's weights).
GROUPED_MIN_ROWS_PER_EXPERT = 48
PADDED_MIN_ACTIVE_SHARE = 0.5


class Dispatched(NamedTuple):
    expert_outputs: torch.Tensor  # (T, K, D)
    expert_rows: int  # token rows the experts computed (= active slots)
    padding_rows: int  # extra all-zero rows a padded buffer added
    strategy: str


def slot_queue(topk_indices: torch.Tensor, topk_weights: torch.Tensor, policy: str = "position",
               router_probs: torch.Tensor | None = None) -> torch.Tensor:
    """The order in which slots claim room in their experts: flat choice-major slot ids (j * T + t), first first.

    position - all first choices (in token order), then all second choices, ... (GShard, Switch)
    priority - choice by choice as well, but within a choice the tokens with the largest router probability
               go first (V-MoE's batch prioritized routing, Riquelme et al. 2021); needs router_probs (T, E)
    weight   - every slot by its own combine weight, highest first, whatever its choice (Megatron-Core's
               "probs" drop policy)
    Ties keep the position order."""
    T, K = topk_indices.shape
    device = topk_indices.device
    if policy == "position":
        return torch.arange(T * K, device=device)
    if policy == "priority":
        if router_probs is None:
            raise ValueError("the priority policy ranks tokens by router probability: pass router_probs (T, E).")
        token_score = router_probs.gather(1, topk_indices).amax(dim=1)  # the token's largest chosen probability
        tokens = torch.argsort(token_score, descending=True, stable=True)  # (T,)
        return (torch.arange(K, device=device).unsqueeze(1) * T + tokens).reshape(-1)
    if policy == "weight":
        return torch.argsort(topk_weights.t().reshape(-1), descending=True, stable=True)
    raise ValueError(f"unknown drop policy {policy!r}; choose one of position, priority, weight.")


def capacity_drops(topk_indices: torch.Tensor, topk_weights: torch.Tensor, num_experts: int,
                   capacity: int, policy: str = "position",
                   router_probs: torch.Tensor | None = None) -> torch.Tensor:
    """Which slots overflow an expert holding `capacity` slots, queued as `slot_queue` orders them.
    Returns dropped (T, K) bool."""
    T, K = topk_indices.shape
    experts = topk_indices.t().reshape(-1)  # choice-major: slot (j, t) at j * T + t
    queue = slot_queue(topk_indices, topk_weights, policy, router_probs)
    rank = _rank_within_group(experts[queue], num_experts)  # place in its expert's queue
    keep = torch.empty_like(rank, dtype=torch.bool)
    keep[queue] = rank < capacity
    return ~keep.view(K, T).t()


def _rank_within_group(groups: torch.Tensor, num_groups: int) -> torch.Tensor:
    """For each element, how many earlier elements share its group (a stable per-group counter)."""
    order = torch.argsort(groups, stable=True)
    counts = torch.bincount(groups, minlength=num_groups)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty_like(groups)
    rank[order] = torch.arange(len(groups), device=groups.device) - starts[groups[order]]
    return rank


class SlotGroups(NamedTuple):
    """Active slots grouped by expert: the one permutation the single-device and expert-parallel paths share."""
    slots: torch.Tensor  # (S,) flat slot ids t * K + j of the active slots, sorted by expert (token order within)
    experts: torch.Tensor  # (S,) each slot's expert, ascending
    counts: torch.Tensor  # (E,) active slots per expert


def group_slots(topk_indices: torch.Tensor, active: torch.Tensor, num_experts: int) -> SlotGroups:
    """Sort the active slots of topk_indices/active (T, K) by expert, stably (megablocks' permute)."""
    slot_ids = active.reshape(-1).nonzero().squeeze(1)
    slot_experts = topk_indices.reshape(-1)[slot_ids]
    order = torch.argsort(slot_experts, stable=True)
    return SlotGroups(slot_ids[order], slot_experts[order], torch.bincount(slot_experts, minlength=num_experts))


def forward_by_expert(experts: Experts, rows: torch.Tensor, expert_ids: torch.Tensor) -> torch.Tensor:
    """Each row through its own expert, rows in any order: group, run each expert once, restore the order."""
    g = group_slots(expert_ids.unsqueeze(1), torch.ones_like(expert_ids, dtype=torch.bool).unsqueeze(1),
                    experts.num_experts)
    out = torch.empty_like(rows)
    out[g.slots] = experts.forward_grouped(rows[g.slots], g.counts.tolist())
    return out


def dispatch(experts: Experts, x: torch.Tensor, topk_indices: torch.Tensor, active: torch.Tensor,
             strategy: str = "auto") -> Dispatched:
    """Run each active slot's expert on its token. x (T, D), topk_indices/active (T, K)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown dispatch strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}.")
    T, K = topk_indices.shape
    E = experts.num_experts
    sorted_slots, sorted_experts, counts = group_slots(topk_indices, active, E)
    rows = len(sorted_slots)
    if strategy == "auto":
        strategy = _choose(counts, rows, E)
    if strategy == "padded":
        out = x.new_zeros(T * K, x.shape[1])
        capacity = int(counts.max()) if rows else 0
        starts = torch.cumsum(counts, 0) - counts
        pos = torch.arange(rows, device=x.device) - starts[sorted_experts]
        buffer = x.new_zeros(E, capacity, x.shape[1])
        buffer[sorted_experts, pos] = x[sorted_slots // K]
        out[sorted_slots] = experts.forward_padded(buffer)[sorted_experts, pos]
        padding = E * capacity - rows
    else:
        y_sorted = experts.forward_grouped(x.index_select(0, sorted_slots // K), counts.tolist())
        if rows == T * K:  # nothing dropped: one gather puts every row back in slot order
            out = y_sorted.index_select(0, torch.argsort(sorted_slots))
        else:
            out = x.new_zeros(T * K, x.shape[1])
            out[sorted_slots] = y_sorted
        padding = 0
    return Dispatched(out.view(T, K, -1), rows, padding, strategy)


def _choose(counts: torch.Tensor, rows: int, num_experts: int) -> str:
    active = int((counts > 0).sum())
    if active < PADDED_MIN_ACTIVE_SHARE * num_experts or rows >= GROUPED_MIN_ROWS_PER_EXPERT * num_experts:
        return "grouped"
    return "padded"


def combine(expert_outputs: torch.Tensor, topk_weights: torch.Tensor) -> torch.Tensor:
    """Weighted sum over each token's slots: (T, K, D), (T, K) -> (T, D), as one batched (1,K)@(K,D) matmul."""
    weights = topk_weights.unsqueeze(1).to(expert_outputs.dtype)  # (T, 1, K)
    return torch.bmm(weights, expert_outputs).squeeze(1)
