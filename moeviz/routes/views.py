"""What a routing Summary can show, and the numbers behind each view (the /replicas page draws them).

    missing_views(summary)              # {view: why its data is not in this dump} for the views it cannot give
    layer_table(summary, gpus, replicas, nodes)   # per layer: max/mean per expert, balancedness per GPU before/after
    capacity_drops(summary, cf)         # per layer: C = ceil(cf·T·k/N), copies dropped per expert (any dump with k)
    journey_dropped(window, drops)      # (W, L, k) bool: the window's copies that a full expert turns away
    co_selection_share(pair)            # (E, E): P(expert j at layer b | expert i at layer a)
    window_probs(window, layer)         # (W, E) softmax of the window's router logits
    window_what_if(window, layer, variant, cf, policy)   # moeviz.hf.whatif on the same logits

Drops use position order, the one rule a dump without router weights allows: copies queue at their expert in
token order and the first C get a slot (Megatron-Core's --moe-token-drop-policy position: "tokens at the end of
each batch will be dropped"). Its default, probs, keeps the highest-probability copies and needs the weights the
indices-only dumps lack. Token order needs no assumption about the order of a row's k columns. The whole dump
counts as one batch: a system applies C per batch, which drops at least as many copies.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from moeviz.eplb import balancedness, default_plan, plan_replicas
from moeviz.hf.whatif import WhatIf, what_if
from moeviz.routes.formats import FORMATS
from moeviz.routes.paths import CoSelection, Window
from moeviz.routes.record import Summary

# Plain words (the page shows them); the file-level details are in moeviz.routes.formats' `what`.
NO_ROWS = ("a dump of counts only ({fmt}): it does not say which experts each token used, so {what} need a dump "
           "of every token (vLLM's, SGLang's per request or per token, Megatron-Core's trace, a moeviz trace)")
NO_LOGITS = ("no router logits: vLLM and SGLang record only which experts each token used; Megatron-Core's trace "
             "keeps the logits when asked to, and a moeviz trace always does")


def missing_views(summary: Summary) -> dict[str, str]:
    """The views this summary cannot give, each with the reason (empty: every view works)."""
    missing = {}
    if summary.window is None:
        fmt = FORMATS[summary.format].label if summary.format in FORMATS else summary.format
        missing["token journeys"] = NO_ROWS.format(fmt=fmt, what="journeys")
        missing["co-selection"] = NO_ROWS.format(fmt=fmt, what="co-selection counts")
    elif len(summary.layers) < 2:
        missing["co-selection"] = "one MoE layer: there is no next layer to compare with"
    elif not summary.pairs:
        missing["co-selection"] = ("the dump's layers are not stored block by block, so rows of consecutive "
                                   "layers could not be paired in one pass")
    if any(s.tokens is None for s in summary.layers):
        missing["drops at a capacity"] = ("the dump has counts but not k, so the tokens T in C = cf·T·k/N are "
                                          "unknown (give k)")
    if summary.window is None or not summary.window.logits:
        missing["router probabilities and what-if"] = NO_LOGITS
    return missing


def layer_table(summary: Summary, gpus: int, replicas: int = 0, nodes: int = 1) -> list[dict]:
    """Per MoE layer: tokens, k, max/mean per expert (moeviz's measure), and balancedness (mean/max per GPU, the
    serving systems' measure) with experts in blocks over `gpus` GPUs, after EPLB placing whole experts (no
    replica), and after an EPLB plan of `replicas`: the plan's gain, split into placing and replicating."""
    rows = []
    for s in summary.layers:
        load = np.asarray(s.tokens_per_expert, dtype=np.float64)
        before = default_plan(len(load), gpus).gpu_load(load)
        placed = plan_replicas(load, 0, gpus, nodes).gpu_load(load)
        after = plan_replicas(load, replicas, gpus, nodes).gpu_load(load)
        rows.append({"layer": s.layer, "tokens": s.tokens, "k": s.top_k,
                     "max/mean per expert": round(float(load.max() / load.mean()), 3),
                     f"balancedness, {gpus} GPUs": round(balancedness(before), 3),
                     "EPLB placing only": round(balancedness(placed), 3),
                     f"with {replicas} replicas": round(balancedness(after), 3)})
    return rows


class LayerDrops(NamedTuple):
    layer: int
    capacity: int  # C slots per expert
    dropped: np.ndarray  # (E,) copies over C, dropped
    routed: int  # copies routed (T·k)

    @property
    def share(self) -> float:
        return float(self.dropped.sum()) / max(self.routed, 1)


def capacity_slots(capacity_factor: float, tokens: int, top_k: int, num_experts: int) -> int:
    """C = ceil(cf · T · k / N), at least 1: the slots each expert has (moeviz.config.MoEConfig.capacity)."""
    return max(1, math.ceil(capacity_factor * tokens * top_k / num_experts))


def capacity_drops(summary: Summary, capacity_factor: float) -> list[LayerDrops]:
    """Per layer with a known T and k: the copies over C at each expert. Counts alone decide how many are
    dropped (max(0, load - C)); which ones depends on the drop policy (journey_dropped)."""
    out = []
    for s in summary.layers:
        if s.tokens is None or not s.top_k:
            continue
        load = np.asarray(s.tokens_per_expert, dtype=np.int64)
        C = capacity_slots(capacity_factor, s.tokens, s.top_k, len(load))
        out.append(LayerDrops(s.layer, C, np.maximum(load - C, 0), int(load.sum())))
    return out


def journey_dropped(window: Window, drops: list[LayerDrops]) -> np.ndarray:
    """(W, L, k) bool: the window's copies queued at or past their expert's C (position order)."""
    capacity = {d.layer: d.capacity for d in drops}
    C = np.array([capacity.get(layer, np.iinfo(np.int64).max) for layer in window.layers])
    return (window.ranks >= 0) & (window.ranks >= C[None, :, None])


def dropped_copies(window: Window, drops: list[LayerDrops]) -> list[dict]:
    """One row per copy of the window that its expert turns away: token position, layer, expert, its place in
    the expert's queue and C (a table for the page)."""
    dropped = journey_dropped(window, drops)
    capacity = {d.layer: d.capacity for d in drops}
    return [{"token": window.start + int(t), "layer": window.layers[i], "expert": int(window.ids[t, i, j]),
             "copies before it": int(window.ranks[t, i, j]), "C": capacity[window.layers[i]]}
            for t, i, j in np.argwhere(dropped)]


def co_selection_share(pair: CoSelection) -> np.ndarray:
    """(E, E): of the tokens that chose expert i at the first layer, the share that chose j at the second. Each
    row sums to the second layer's k; with independent layers every row would equal that layer's load shares."""
    return pair.counts / np.maximum(pair.chose, 1)[:, None]


def window_probs(window: Window, layer: int) -> np.ndarray:
    """(W, E) softmax of the window's router logits at `layer` (NaN rows: tokens without logits)."""
    logits = torch.from_numpy(window.logits[layer])
    return torch.softmax(logits, dim=-1).numpy()


def window_what_if(window: Window, layer: int, variant: str, capacity_factor: float | None,
                   drop_policy: str = "position") -> WhatIf:
    """The window's router logits at `layer` through a moeviz router variant (moeviz.hf.whatif.what_if; the
    capacity counts the window's tokens as the batch). Tokens without logits are left out."""
    logits = window.logits[layer]
    keep = ~np.isnan(logits).any(axis=1)
    i = window.layers.index(layer)
    k = int((window.ids[keep, i] >= 0).sum(axis=1).max(initial=1))
    return what_if(torch.from_numpy(logits[keep]), variant, top_k=k, capacity_factor=capacity_factor,
                   drop_policy=drop_policy)


def changed_tokens(window: Window, layer: int, routed_ids: torch.Tensor, active: torch.Tensor) -> int:
    """How many of the window's tokens (those with logits) run a different set of experts under the what-if."""
    i = window.layers.index(layer)
    keep = ~np.isnan(window.logits[layer]).any(axis=1)
    before = [set(row[row >= 0].tolist()) for row in window.ids[keep, i]]
    after = [set(ids[on].tolist()) for ids, on in zip(routed_ids.cpu(), active.cpu())]
    return sum(b != a for b, a in zip(before, after))
