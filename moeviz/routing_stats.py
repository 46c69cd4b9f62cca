"""Statistics of routing counts, pure numpy: how much an expert tells about a token's kind, and what a load
would cost under a capacity limit. The balance lab (moeviz.train) records them per step; moeviz.hf.analysis
reuses the mutual information on real checkpoints' routing.

    mutual_information(counts)             # I(A; B) in nats of an (A, B) table of counts
    specialization(counts, slot_entropy)   # I(cluster; expert) over its ceiling, in [0, 1]
    purity(counts)                         # share of slots from their expert's most common cluster
    overflow_at_capacity(load, cf)         # share of slots past C = cf x the mean load
"""
from __future__ import annotations

import math

import numpy as np


def mutual_information(counts) -> float:
    """I(cluster; expert) in nats from a (C, E) table of slot counts."""
    p = np.asarray(counts, dtype=float)
    total = p.sum()
    if total <= 0:
        return 0.0
    p = p / total
    outer = p.sum(axis=1, keepdims=True) * p.sum(axis=0, keepdims=True)
    nz = p > 0
    return float((p[nz] * np.log(p[nz] / outer[nz])).sum())


def specialization(counts, slot_entropy: float) -> float:
    """I(cluster; expert) / its ceiling, in [0, 1], from (C, E) slot counts.

    I = H(expert) - H(expert | cluster) <= log E - H(expert | token), because the cluster is a function of the
    token. A token's m slots go to m different experts, so H(expert | token) = `slot_entropy`, the slot-weighted
    mean of log m: log k when every token keeps its k slots (ceiling log(E/k): the expert of a slot can pin down
    at most E/k groups of clusters), less after capacity drops or under expert choice. The ceiling is
    min(H(cluster), log E - slot_entropy)."""
    p = np.asarray(counts, dtype=float)
    if p.sum() <= 0:
        return 0.0
    pc = p.sum(axis=1) / p.sum()
    h_cluster = float(-(pc[pc > 0] * np.log(pc[pc > 0])).sum())
    ceiling = min(h_cluster, math.log(p.shape[1]) - slot_entropy)
    return mutual_information(p) / ceiling if ceiling > 1e-12 else 0.0


def purity(counts) -> float:
    """Share of slots that come from their expert's most common cluster (1 = every expert serves one cluster)."""
    p = np.asarray(counts, dtype=float)
    return float(p.max(axis=0).sum() / p.sum()) if p.sum() > 0 else 0.0


def overflow_at_capacity(tokens_per_expert, capacity_factor: float) -> float:
    """Share of slots that would not fit if every expert held capacity_factor × the mean load
    (C = ceil(cf · T · k / N) slots): what this load would cost in dropped slots under a capacity limit."""
    load = np.asarray(tokens_per_expert, dtype=float)
    if load.sum() <= 0:
        return 0.0
    capacity = capacity_factor * load.mean()
    return float(np.clip(load - capacity, 0.0, None).sum() / load.sum())


__all__ = ["mutual_information", "specialization", "purity", "overflow_at_capacity"]
