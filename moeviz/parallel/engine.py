"""One expert-parallel step on one rank: route local tokens, all_to_all them to their experts' owners, run the
local experts, all_to_all the results back, combine. The same function runs in the pool's workers and under
torchrun (moeviz.parallel.run).

Layout: W ranks, each holds a shard of the tokens and a contiguous block of experts (owner_starts). The router
is replicated, so every rank routes its own tokens. A capacity limit is applied the way GShard does it: each
rank's tokens form a group, and the group gets C = ceil(cf * T_local * k / N) slots per expert, decided on the
rank before anything is sent. The exact reference is therefore the single-process layer run on each shard
(`local_group_reference`); without capacity that equals the layer on the whole batch.
Shapes: T local tokens, K slots per token, D = d_model, S = active slots sent, R = rows received.

Timing per rank (wall clock, ms): route, wait (in a barrier before each exchange: idle until the slowest peer
arrives, plus the barrier's own message round), comm (inside the all_to_all calls), compute (the local
experts), other (the untimed rest: sorting copies by destination, scattering the results back, the weighted
combine), step (all of it: route + wait + comm + compute + other). Bytes count only
rows that leave or reach this rank from another rank: a token routed to a local expert never touches the wire.
"""
from __future__ import annotations

import time

import torch
import torch.distributed as dist

from moeviz.config import MoEConfig
from moeviz.routers import router_spec
from moeviz.dispatch import combine, forward_by_expert, group_slots
from moeviz.layer import MoELayer

ID_BYTES = 8  # int64 expert id sent with each row


def owner_starts(num_experts: int, world_size: int) -> torch.Tensor:
    """First expert of each rank: rank r owns experts [starts[r], starts[r+1]); blocks differ by at most one."""
    if world_size > num_experts:
        raise ValueError(f"{world_size} workers need at least {world_size} experts (one each); "
                         f"the layer has {num_experts}.")
    return torch.tensor([r * num_experts // world_size for r in range(world_size)])


def expert_owner(expert_ids: torch.Tensor, num_experts: int, world_size: int) -> torch.Tensor:
    """The rank holding each expert id."""
    starts = owner_starts(num_experts, world_size)
    return torch.bucketize(expert_ids, starts[1:], right=True)


def unsupported_reason(cfg: MoEConfig) -> str | None:
    """Why this config cannot run expert-parallel with an exact match to the single-process layer, or None.

    (Workers run the layer in eval mode, so training noise never makes ranks route differently.)"""
    if router_spec(cfg.router).experts_choose:
        return "expert choice ranks all tokens of the batch together, so a rank cannot route its shard alone."
    return None


def local_group_reference(layer: MoELayer, x: torch.Tensor, world_size: int) -> tuple[torch.Tensor, float]:
    """What W ranks must output for x: the single-process layer on each rank's shard (its capacity group).

    Returns (y (T, D), the share of token copies dropped over all groups)."""
    outputs, dropped, slots = [], 0, 0
    with torch.inference_mode():
        for shard in torch.tensor_split(x, world_size):
            y, trace = layer(shard)
            outputs.append(y)
            dropped, slots = dropped + int(trace.dropped.sum()), slots + trace.dropped.numel()
    return torch.cat(outputs), dropped / max(slots, 1)


class _Clock:
    """Accumulates wall time per phase."""

    def __init__(self):
        self.ms = {"route": 0.0, "wait": 0.0, "comm": 0.0, "compute": 0.0}

    def time(self, phase: str, fn, *args):
        t0 = time.perf_counter()
        out = fn(*args)
        self.ms[phase] += (time.perf_counter() - t0) * 1e3
        return out


def _exchange(clock: _Clock, send: torch.Tensor, send_counts: list[int], recv_counts: list[int], group):
    """all_to_all_single of rows with uneven splits, after a barrier that measures waiting separately."""
    clock.time("wait", dist.barrier, group)
    recv = send.new_empty((sum(recv_counts), *send.shape[1:]))
    clock.time("comm", dist.all_to_all_single, recv, send, recv_counts, send_counts, group)
    return recv


def ep_step(layer: MoELayer, x_local: torch.Tensor, group=None) -> tuple[torch.Tensor, dict]:
    """The expert-parallel forward of this rank's tokens x_local (T, D). Returns (y_local (T, D), stats)."""
    rank, W = dist.get_rank(group), dist.get_world_size(group)
    E = layer.cfg.num_experts
    start = time.perf_counter()
    clock = _Clock()
    with torch.no_grad():
        r = clock.time("route", layer.route, x_local)  # the layer's own gating code, on local tokens only
        T, K = r.routing.topk_indices.shape
        # Sorted by expert = sorted by destination rank too, since each rank owns a contiguous block of experts.
        slots, slot_experts, _ = group_slots(r.routing.topk_indices, ~r.dropped, E)
        dest = expert_owner(slot_experts, E, W)
        send_counts = torch.bincount(dest, minlength=W)
        # 1) how many rows each rank will receive, 2) the rows and their expert ids.
        recv_counts = _exchange(clock, send_counts, [1] * W, [1] * W, group)
        send_n, recv_n = send_counts.tolist(), recv_counts.tolist()
        recv_rows = _exchange(clock, x_local[slots // K].contiguous(), send_n, recv_n, group)
        recv_experts = _exchange(clock, slot_experts, send_n, recv_n, group)
        # A sharded layer (keep_local_experts) numbers its experts from its first one; a full one from 0.
        offset = int(owner_starts(E, W)[rank]) if layer.experts.num_experts < E else 0
        # Rows arrive grouped by sender: forward_by_expert regroups them by local expert and restores the order.
        out_rows = clock.time("compute", forward_by_expert, layer.experts, recv_rows, recv_experts - offset)
        # 3) results travel back along the reverse splits.
        back = _exchange(clock, out_rows, recv_n, send_n, group)
        expert_outputs = x_local.new_zeros(T * K, x_local.shape[1])
        expert_outputs[slots] = back
        y = combine(expert_outputs.view(T, K, -1), r.routing.topk_weights * ~r.dropped)  # (T, D)
        if layer.shared_expert is not None:
            y = y + layer.shared_expert.forward_expert(0, x_local)
    stats = _stats(rank, W, E, T, x_local, send_n, recv_n, clock)
    stats["slots_dropped"] = int(r.dropped.sum())  # over capacity in this rank's group: never sent
    stats["step_ms"] = (time.perf_counter() - start) * 1e3
    stats["other_ms"] = max(0.0, stats["step_ms"] - sum(clock.ms.values()))  # so the phases add up to the step
    return y, stats


def keep_local_experts(layer: MoELayer, rank: int, world_size: int) -> MoELayer:
    """Drop the experts this rank does not own (in place): a worker then holds only its N/W experts' weights."""
    starts = owner_starts(layer.cfg.num_experts, world_size).tolist() + [layer.cfg.num_experts]
    block = slice(starts[rank], starts[rank + 1])
    experts = layer.experts
    experts.w_in = torch.nn.Parameter(experts.w_in.data[block].clone(), requires_grad=False)
    experts.w_out = torch.nn.Parameter(experts.w_out.data[block].clone(), requires_grad=False)
    return layer


def _stats(rank, W, E, T, x_local, send_n, recv_n, clock) -> dict:
    starts = owner_starts(E, W).tolist() + [E]
    row_bytes = x_local.shape[1] * x_local.element_size() + ID_BYTES
    remote_sent = sum(n for r, n in enumerate(send_n) if r != rank)
    remote_recv = sum(n for r, n in enumerate(recv_n) if r != rank)
    # Rows go out and come back: dispatch sends remote_sent rows (+ids), the return sends remote_recv rows.
    out_bytes = x_local.shape[1] * x_local.element_size()
    return {
        "rank": rank, "experts": [starts[rank], starts[rank + 1] - 1], "tokens_local": T,
        "rows_received": sum(recv_n), "rows_from_others": remote_recv,
        "bytes_sent": remote_sent * row_bytes + remote_recv * out_bytes + 8 * (W - 1),
        "bytes_received": remote_recv * row_bytes + remote_sent * out_bytes + 8 * (W - 1),
        **{f"{phase}_ms": ms for phase, ms in clock.ms.items()},
    }
