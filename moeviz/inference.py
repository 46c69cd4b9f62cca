"""Routing at inference: a token's output can depend on the rest of its batch.

A dense FFN computes each token on its own. An MoE layer with a capacity limit (Switch, GShard) or with expert
choice decides *per batch*: whether a token's copy fits in its expert depends on who else asked, and an expert
that picks its C best tokens picks among the ones present. So the same token can get another output when it
is decoded alone (one new token per step) than inside a prefill (the whole prompt at once). Dropless
token-choice routing (Mixtral, DeepSeek-V3) gives the same output either way. Real serving systems batch the
decode steps of many requests together, so under a capacity limit requests can change each other's outputs.

    rows = alone_vs_batch(num_experts=8, top_k=2, num_tokens=32, seed=0)   # one InferenceRow per setting
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from moeviz.config import DEFAULT_SWITCH_CAPACITY, SWITCH_EVAL_CAPACITY, MoEConfig
from moeviz.layer import MoELayer

D_MODEL, D_HIDDEN = 32, 64  # as small as the walkthrough's layer

# (key, label, router, capacity factor or None): the settings compared, each on the same seeded layer.
SETTINGS = (
    ("dropless", "dropless top-k", "softmax_topk", None),  # short labels: a table cell, the page says the rest
    ("switch_train", f"Switch, top-1 (capacity {DEFAULT_SWITCH_CAPACITY:g})", "switch", DEFAULT_SWITCH_CAPACITY),
    ("switch_eval", f"Switch, top-1 (capacity {SWITCH_EVAL_CAPACITY:g})", "switch", SWITCH_EVAL_CAPACITY),
    ("expert_choice", "expert choice", "expert_choice", None),
)


class InferenceRow(NamedTuple):
    key: str
    label: str
    capacity_in_batch: int | None  # C for the whole batch (None: no limit)
    capacity_alone: int | None  # C for a batch of one token
    experts_in_batch: list[list[int]]  # per token: the experts that processed it inside the batch (prefill)
    experts_alone: list[list[int]]  # per token: the experts that processed it alone (decode)
    output_change: list[float]  # per token: max |y_alone - y_in_batch| (float rounding when the experts agree)

    @property
    def tokens_changed(self) -> int:
        """Tokens processed by other experts alone than in the batch (so their output changed)."""
        return sum(1 for a, b in zip(self.experts_alone, self.experts_in_batch) if a != b)


def _processed(trace) -> list[list[int]]:
    """Per token, the experts that really ran for it (dropped or unpicked slots left out), sorted."""
    return [sorted(int(e) for e, d in zip(row, drop) if not d)
            for row, drop in zip(trace.topk_indices.tolist(), trace.dropped.tolist())]


def alone_vs_batch(num_experts: int, top_k: int, num_tokens: int, seed: int) -> list[InferenceRow]:
    """Every token of one seeded batch, routed inside the batch and then alone, under each of SETTINGS."""
    x = torch.randn(num_tokens, D_MODEL, generator=torch.Generator().manual_seed(seed + 1))
    rows = []
    for key, label, router, cf in SETTINGS:
        cfg = MoEConfig(d_model=D_MODEL, d_hidden=D_HIDDEN, num_experts=num_experts,
                        top_k=MoEConfig.routed_top_k(router, top_k), router=router, capacity_factor=cf,
                        seed=seed, device="cpu")
        layer = MoELayer(cfg).eval()
        with torch.inference_mode():
            y_batch, batch = layer(x)
            alone = [layer(x[t:t + 1]) for t in range(num_tokens)]
        y_alone = torch.cat([y for y, _ in alone])
        rows.append(InferenceRow(key, label, batch.capacity, alone[0][1].capacity, _processed(batch),
                                 [_processed(trace)[0] for _, trace in alone],
                                 (y_alone - y_batch).abs().amax(dim=1).tolist()))
    return rows



def token_table(rows: list[InferenceRow], token: int) -> list[dict]:
    """One row per setting for `token`: its experts in the batch and alone, and how much its output moved."""
    def experts(ids):
        return ", ".join(f"E{e}" for e in ids) or "none (residual only)"
    return [{"routing": r.label,
             "C in the batch": "no limit" if r.capacity_in_batch is None else str(r.capacity_in_batch),
             "C alone": "no limit" if r.capacity_alone is None else str(r.capacity_alone),
             "experts in the batch (prefill)": experts(r.experts_in_batch[token]),
             "experts alone (decode)": experts(r.experts_alone[token]),
             "max |output change|": f"{r.output_change[token]:.2g}",
             "tokens of the batch that change": f"{r.tokens_changed} of {len(r.output_change)}"}
            for r in rows]


__all__ = ["SETTINGS", "InferenceRow", "alone_vs_batch", "token_table"]
