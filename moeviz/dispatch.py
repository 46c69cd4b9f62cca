"""Sending token copies ("slots") to their experts and bringing the results back.

A slot is one (token t, choice j) pair; K slots per token. Only active (not dropped) slots are computed.
Strategies, all returning expert_outputs (T, K, D) with zeros in inactive slots:
    padded  - each expert's rows copied into an (E, C_max, D) buffer, one batched matmul per projection;
              fastest for small batches, where per-expert Python overhead dominates; costs padding rows
    grouped - rows sorted by expert, one matmul per *active* expert on its contiguous block (split-and-loop);
              no padding, best for large batches and for batches that leave many experts idle
(HF Mixtral's per-expert loop, the common peer, lives in moeviz.bench for comparison.)
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


def capacity_drops(topk_indices: torch.Tensor, topk_weights: torch.Tensor, num_experts: int,
                   capacity: int, policy: str = "position") -> torch.Tensor:
    """Which slots overflow an expert holding `capacity` slots. Returns dropped (T, K) bool.

    "position" (Switch/GShard): first choices of all tokens come before second choices, earlier tokens before
    later ones. "probability" (batch-prioritised routing, Riquelme et al. 2021): higher combine weight first."""
    T, K = topk_indices.shape
    experts = topk_indices.t().reshape(-1)  # choice-major: slot (j, t) at j * T + t
    if policy == "probability":
        priority = torch.argsort(topk_weights.t().reshape(-1), descending=True, stable=True)
    else:
        priority = torch.arange(T * K, device=topk_indices.device)
    queued = experts[priority]  # expert of each slot, in priority order
    rank = _rank_within_group(queued, num_experts)  # place in its expert's queue
    keep = torch.empty_like(rank, dtype=torch.bool)
    keep[priority] = rank < capacity
    return ~keep.view(K, T).t()


def _rank_within_group(groups: torch.Tensor, num_groups: int) -> torch.Tensor:
    """For each element, how many earlier elements share its group (a stable per-group counter)."""
    order = torch.argsort(groups, stable=True)
    counts = torch.bincount(groups, minlength=num_groups)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty_like(groups)
    rank[order] = torch.arange(len(groups), device=groups.device) - starts[groups[order]]
    return rank


def dispatch(experts: Experts, x: torch.Tensor, topk_indices: torch.Tensor, active: torch.Tensor,
             strategy: str = "auto") -> Dispatched:
    """Run each active slot's expert on its token. x (T, D), topk_indices/active (T, K)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown dispatch strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}.")
    T, K = topk_indices.shape
    E = experts.num_experts
    slot_ids = active.reshape(-1).nonzero().squeeze(1)  # flat slot id t * K + j of each active slot
    slot_experts = topk_indices.reshape(-1)[slot_ids]
    order = torch.argsort(slot_experts, stable=True)
    sorted_slots, sorted_experts = slot_ids[order], slot_experts[order]
    counts = torch.bincount(slot_experts, minlength=E)
    rows = len(slot_ids)
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
