"""Expert-parallel load balancing (EPLB): replicate the busiest experts and place the copies so every GPU gets
about the same number of token copies. Pure functions: a load in, a placement out (no torch, no Streamlit).

    plan = plan_replicas(load, replicas=4, gpus=8, nodes=2)   # load: (E,) tokens per logical expert
    plan.phy2log      # (E + replicas,) logical expert of each physical slot; slot s sits on GPU s // slots_per_gpu
    plan.gpu_load(load), default_plan(E, 8).gpu_load(load), balancedness(...)
    python -m moeviz.eplb plan --load FILE --replicas R --gpus G [--nodes M] [--json]

The algorithm is DeepSeek's published one (github.com/deepseek-ai/EPLB, README and eplb.py; DeepSeek-V3 report
§3.4 "redundant experts"), written here from its description:
- hierarchical (when the expert groups divide evenly over the nodes): pack whole expert groups onto nodes so node
  loads are even (group-limited routing then keeps a token's traffic on few nodes), replicate the heaviest experts
  within each node, then pack each node's copies onto its GPUs;
- global (otherwise, or with one node): replicate over all experts, then pack all copies onto all GPUs.
Replication gives one more copy at a time to the expert whose load per copy is highest; packing takes items from
heaviest to lightest and puts each on the lightest GPU that still has a free slot (every GPU gets the same number
of slots). A token's copies for an expert are split evenly over its replicas. Nothing keeps two copies of one
expert off the same GPU (DeepSeek's code has no such rule either): that GPU then computes all of the expert's
tokens, as with one copy, so such a replica costs memory and moves no load.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Plan:
    phy2log: np.ndarray  # (slots,) logical expert held by each physical slot, slots grouped by GPU
    num_gpus: int
    note: str = ""  # set when the planner kept the default placement (see plan_replicas)

    @property
    def slots_per_gpu(self) -> int:
        return len(self.phy2log) // self.num_gpus

    def replica_count(self, num_experts: int) -> np.ndarray:
        return np.bincount(self.phy2log, minlength=num_experts)

    def slot_load(self, load: np.ndarray) -> np.ndarray:
        """(slots,) tokens each physical slot computes: its expert's load split evenly over the replicas."""
        load = np.asarray(load, dtype=np.float64)
        return load[self.phy2log] / self.replica_count(len(load))[self.phy2log]

    def gpu_load(self, load: np.ndarray) -> np.ndarray:
        """(gpus,) tokens each GPU computes."""
        return self.slot_load(load).reshape(self.num_gpus, -1).sum(axis=1)

    def gpu_experts(self) -> list[list[int]]:
        return self.phy2log.reshape(self.num_gpus, -1).tolist()


def balancedness(gpu_load: np.ndarray) -> float:
    """Mean over max GPU load (1 = perfectly even): the measure SGLang logs and vLLM's EPLB reports."""
    gpu_load = np.asarray(gpu_load, dtype=np.float64)
    return float(gpu_load.mean() / gpu_load.max()) if gpu_load.max() > 0 else 1.0


def extra_memory_bytes(replicas: int, gpus: int, expert_params: int, bytes_per_value: int, layers: int) -> float:
    """Weights each GPU holds beyond plain expert parallelism: R whole expert copies per layer, spread evenly."""
    return replicas * layers * expert_params * bytes_per_value / gpus


def default_plan(num_experts: int, num_gpus: int) -> Plan:
    """No replicas: expert e on GPU e // (experts per GPU), as plain expert parallelism places them."""
    if num_experts % num_gpus:
        raise ValueError(f"{num_experts} experts do not split evenly over {num_gpus} GPUs.")
    return Plan(np.arange(num_experts), num_gpus)


def balanced_packing(weights: np.ndarray, num_packs: int) -> tuple[np.ndarray, np.ndarray]:
    """Put n items into num_packs packs of n / num_packs items each, heaviest first onto the lightest pack that has
    room. Returns (pack of each item, its position in the pack)."""
    n = len(weights)
    per_pack = n // num_packs
    pack, rank = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    totals, sizes = np.zeros(num_packs), np.zeros(num_packs, dtype=np.int64)
    for item in np.argsort(-np.asarray(weights, dtype=np.float64), kind="stable"):
        open_packs = np.flatnonzero(sizes < per_pack)
        p = open_packs[np.argmin(totals[open_packs])]  # the first of the lightest, as DeepSeek's min() does
        pack[item], rank[item] = p, sizes[p]
        totals[p] += weights[item]
        sizes[p] += 1
    return pack, rank


def replicate(load: np.ndarray, num_slots: int) -> np.ndarray:
    """(num_slots,) logical expert per slot: every expert once, then each extra copy to the expert with the most
    load per copy (this minimises the largest load per copy)."""
    load = np.asarray(load, dtype=np.float64)
    phy2log = list(range(len(load)))
    count = np.ones(len(load))
    for _ in range(num_slots - len(load)):
        e = int(np.argmax(load / count))
        phy2log.append(e)
        count[e] += 1
    return np.array(phy2log, dtype=np.int64)


def refine_packing(weights: np.ndarray, pack: np.ndarray) -> np.ndarray:
    """Swap one item of the heaviest pack with one of another pack while that lowers the pair's larger total
    (pack sizes stay the same). Not in DeepSeek's code: it fixes greedy packings that end worse than necessary."""
    weights, pack = np.asarray(weights, dtype=np.float64), pack.copy()
    num_packs = int(pack.max()) + 1
    for _ in range(len(weights) ** 2):  # each swap lowers the heaviest pack or the number tied at the top
        totals = np.bincount(pack, weights=weights, minlength=num_packs)
        h = int(np.argmax(totals))
        best, swap = totals[h], None
        for i in np.flatnonzero(pack == h):
            for j in np.flatnonzero((pack != h) & (weights < weights[i])):
                d = weights[i] - weights[j]
                larger = max(totals[h] - d, totals[pack[j]] + d)
                if larger < best - 1e-9:
                    best, swap = larger, (i, j)
        if swap is None:
            return pack
        i, j = swap
        pack[i], pack[j] = pack[j], pack[i]
    return pack


def _pack_slots(load: np.ndarray, phy2log: np.ndarray, num_gpus: int, refine: bool) -> np.ndarray:
    """Reorder slots so GPU g holds positions [g * per_gpu, (g + 1) * per_gpu), its loads packed evenly."""
    slot_load = Plan(phy2log, 1).slot_load(load)
    pack, _ = balanced_packing(slot_load, num_gpus)
    if refine:
        pack = refine_packing(slot_load, pack)
    heavy_first = np.argsort(-slot_load, kind="stable")
    rank_of = np.empty(len(phy2log), dtype=np.int64)
    rank_of[heavy_first] = np.arange(len(phy2log))
    order = np.lexsort((rank_of, pack))
    return phy2log[order]


def hierarchical_plan(load, num_slots: int, num_groups: int, num_nodes: int, num_gpus: int,
                      refine: bool = True) -> Plan:
    """Groups onto nodes, replicas within each node, copies onto each node's GPUs (one group, one node: global)."""
    load = np.asarray(load, dtype=np.float64)
    E = len(load)
    group_size, slots_per_node, gpus_per_node = E // num_groups, num_slots // num_nodes, num_gpus // num_nodes
    group_node, group_rank = balanced_packing(load.reshape(num_groups, group_size).sum(axis=1), num_nodes)
    phy2log = []
    for node in range(num_nodes):
        groups = sorted(np.flatnonzero(group_node == node), key=lambda g: group_rank[g])
        experts = np.concatenate([np.arange(g * group_size, (g + 1) * group_size) for g in groups])
        local = replicate(load[experts], slots_per_node)
        phy2log.append(experts[_pack_slots(load[experts], local, gpus_per_node, refine)])
    return Plan(np.concatenate(phy2log), num_gpus)


def plan_replicas(load, replicas: int, gpus: int, nodes: int = 1, groups: int | None = None) -> Plan:
    """E + replicas slots over `gpus` GPUs in `nodes` nodes. Hierarchical when `groups` (default: one per node)
    divides the experts and splits evenly over the nodes, as DeepSeek's rebalance_experts decides; else global."""
    E = len(load)
    slots = E + replicas
    if replicas < 0 or gpus < 1 or nodes < 1:
        raise ValueError("replicas must be >= 0, and GPUs and nodes >= 1.")
    if slots % gpus:
        raise ValueError(f"{E} experts + {replicas} replicas = {slots} slots do not split evenly over {gpus} GPUs; "
                         f"pick replicas so that experts + replicas is a multiple of the GPUs.")
    if gpus % nodes:
        raise ValueError(f"{gpus} GPUs do not split evenly over {nodes} nodes.")
    groups = groups or nodes
    if nodes > 1 and E % groups == 0 and groups % nodes == 0 and slots % nodes == 0:
        plan = hierarchical_plan(load, slots, groups, nodes, gpus)
    else:
        plan = hierarchical_plan(load, slots, 1, 1, gpus)
    if E % gpus == 0 and plan.gpu_load(load).max() > default_plan(E, gpus).gpu_load(load).max() + 1e-9:
        return _same_gpu_copies(load, replicas, gpus)
    return plan


def _same_gpu_copies(load, replicas: int, gpus: int) -> Plan:
    """The default placement, each GPU's extra slots copying its own busiest experts: GPU loads exactly as with
    no replicas. The fallback when the greedy plan came out worse (rare; splitting an expert evenly over its
    copies can force it)."""
    load = np.asarray(load, dtype=np.float64)
    own = np.arange(len(load)).reshape(gpus, -1)
    extra = [replicate(load[row], len(row) + replicas // gpus)[len(row):] for row in own]
    phy2log = np.concatenate([np.concatenate([row, row[e]]) for row, e in zip(own, extra)])
    return Plan(phy2log, gpus, note="the greedy plan was worse than no replicas for this load, so the experts "
                                   "stay where they were and each GPU's extra slots copy its own busiest experts.")


def plan_layers(load: np.ndarray, replicas: int, gpus: int, nodes: int = 1) -> list[dict]:
    """Per layer of a (layers, E) load: the plan and GPU loads before (default placement) and after."""
    rows = []
    for row in np.asarray(load):
        plan = plan_replicas(row, replicas, gpus, nodes)
        before = default_plan(len(row), gpus).gpu_load(row) if len(row) % gpus == 0 else None
        rows.append({"plan": plan, "before": before, "after": plan.gpu_load(row)})
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m moeviz.eplb", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("plan", help="replicate the busiest experts of each layer and place them on GPUs")
    s.add_argument("--load", required=True, help="a routing summary or any dump moeviz.routes reads")
    s.add_argument("--replicas", type=int, required=True, help="redundant slots per layer (experts + R in all)")
    s.add_argument("--gpus", type=int, required=True)
    s.add_argument("--nodes", type=int, default=1)
    s.add_argument("--format", help="the dump's format (default: detected)")
    s.add_argument("--layers", type=int, help="for flat SGLang payloads: num_hidden_layers")
    s.add_argument("--top-k", type=int, help="for flat SGLang payloads: experts per token")
    s.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    from moeviz.routes import RoutesError, summarize  # the reader is only needed here: the planner stays pure
    try:
        summary = summarize(args.load, args.format, args.layers, args.top_k)
        rows = plan_layers(summary.load(), args.replicas, args.gpus, args.nodes)
    except (RoutesError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"layers": [
            {"layer": s.layer, "phy2log": r["plan"].phy2log.tolist(),
             "gpu_load_before": None if r["before"] is None else r["before"].tolist(),
             "gpu_load_after": r["after"].tolist()} for s, r in zip(summary.layers, rows)]}))
        return 0
    for s, r in zip(summary.layers, rows):
        before = "n/a" if r["before"] is None else f"{balancedness(r['before']):.3f}"
        print(f"layer {s.layer}: balancedness {before} -> {balancedness(r['after']):.3f}")
        if r["before"] is not None:
            print("  GPU load before: " + " ".join(f"{v:.0f}" for v in r["before"]))
        print("  GPU load after:  " + " ".join(f"{v:.0f}" for v in r["after"]))
        print("  phy2log by GPU:  " + " | ".join(" ".join(map(str, g)) for g in r["plan"].gpu_experts()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
