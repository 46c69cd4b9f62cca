"""Expert parallelism with a placement: the busiest experts replicated, as an EPLB plan (moeviz.eplb) says.

A placement is phy2log, the logical expert of each physical slot; rank r holds slots [r * S, (r + 1) * S) with
S = len(phy2log) / W, so an expert can sit on several ranks. Each token copy for expert e goes to one of e's
replicas, picked by the token's global position modulo the number of replicas (the even split the planner
assumes). phy2log = arange(E) is plain expert parallelism, so "before" and "after" run the same code.
Dropless only (no capacity factor): replicas change who computes a copy, never whether it is computed, so the
output equals the single-process layer's on the whole batch.
Shapes: T local tokens, K slots per token, D = d_model, P = physical slots, S = slots per rank.
"""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.distributed as dist

from moeviz.dispatch import combine, forward_by_expert, group_slots
from moeviz.layer import MoELayer
from moeviz.parallel.engine import ID_BYTES, _Clock, _exchange


def check_placement(phy2log, num_experts: int, world_size: int) -> None:
    P = len(phy2log)
    if P % world_size or sorted(set(phy2log)) != list(range(num_experts)):
        raise ValueError(f"a placement needs a multiple of {world_size} slots and every one of the "
                         f"{num_experts} experts at least once; got {P} slots holding {sorted(set(phy2log))}.")


def slot_layer(layer: MoELayer, phy2log, rank: int, world_size: int) -> MoELayer:
    """Keep only this rank's slots (in place): slot j of the rank is a copy of expert phy2log[rank * S + j]."""
    check_placement(phy2log, layer.cfg.num_experts, world_size)
    S = len(phy2log) // world_size
    held = torch.as_tensor(list(phy2log[rank * S:(rank + 1) * S]))
    experts = layer.experts
    experts.w_in = torch.nn.Parameter(experts.w_in.data[held].clone(), requires_grad=False)
    experts.w_out = torch.nn.Parameter(experts.w_out.data[held].clone(), requires_grad=False)
    return layer


def replica_table(phy2log, num_experts: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(E, max replicas) physical slots of each expert (padded with its first), and (E,) replica counts."""
    slots = [np.flatnonzero(np.asarray(phy2log) == e) for e in range(num_experts)]
    width = max(len(s) for s in slots)
    table = torch.tensor([list(s) + [s[0]] * (width - len(s)) for s in slots])
    return table, torch.tensor([len(s) for s in slots])


def replicated_step(layer: MoELayer, x_local: torch.Tensor, phy2log, group=None) -> tuple[torch.Tensor, dict]:
    """This rank's expert-parallel forward under a placement. Returns (y_local (T, D), stats)."""
    rank, W = dist.get_rank(group), dist.get_world_size(group)
    E, P = layer.cfg.num_experts, len(phy2log)
    S = P // W
    start, clock = time.perf_counter(), _Clock()
    with torch.no_grad():
        r = clock.time("route", layer.route, x_local)
        T, K = r.routing.topk_indices.shape
        table, count = replica_table(phy2log, E)
        experts = r.routing.topk_indices.reshape(-1)  # (T * K,) logical
        position = torch.arange(T).repeat_interleave(K) * W + rank  # distinct over ranks: spreads the replicas
        physical = table[experts, position % count[experts]]  # (T * K,) the slot each copy goes to
        # slots are grouped by rank, so sorting copies by slot (the engine's grouping) sorts them by destination
        order, physical, _ = group_slots(physical.view(T, K), torch.ones(T, K, dtype=torch.bool), P)
        send_n = torch.bincount(physical // S, minlength=W)
        recv_n = _exchange(clock, send_n, [1] * W, [1] * W, group).tolist()
        send_n = send_n.tolist()
        rows = _exchange(clock, x_local[order // K].contiguous(), send_n, recv_n, group)
        local = _exchange(clock, physical % S, send_n, recv_n, group)
        out_rows = clock.time("compute", forward_by_expert, layer.experts, rows, local)
        back = _exchange(clock, out_rows, recv_n, send_n, group)
        expert_outputs = x_local.new_empty(T * K, x_local.shape[1])
        expert_outputs[order] = back
        y = combine(expert_outputs.view(T, K, -1), r.routing.topk_weights)  # (T, D)
        if layer.shared_expert is not None:
            y = y + layer.shared_expert.forward_expert(0, x_local)
    step_ms = (time.perf_counter() - start) * 1e3
    row_bytes = x_local.shape[1] * x_local.element_size()
    remote_sent = sum(n for r_, n in enumerate(send_n) if r_ != rank)
    remote_recv = sum(n for r_, n in enumerate(recv_n) if r_ != rank)
    return y, {"rank": rank, "slots": list(phy2log[rank * S:(rank + 1) * S]), "tokens_local": T,
               "rows_received": sum(recv_n), "rows_from_others": remote_recv,
               "bytes_sent": remote_sent * (row_bytes + ID_BYTES) + remote_recv * row_bytes,
               "bytes_received": remote_recv * (row_bytes + ID_BYTES) + remote_sent * row_bytes,
               **{f"{phase}_ms": ms for phase, ms in clock.ms.items()}, "step_ms": step_ms,
               "other_ms": max(0.0, step_ms - sum(clock.ms.values()))}
