"""Dropless vs capacity on the same batch, against a naive count of each expert's queue."""
import math

import pytest
import torch

from moeviz import MoEConfig, MoELayer
from moeviz.parallel.capacity import capacity_demo
from moeviz.parallel.dropless import dropless_vs_capacity


def naive_rows(cfg, num_tokens, seed):
    """Each token's chosen experts from the plain router maths, and per-expert counts with a position queue."""
    x = torch.randn(num_tokens, cfg.d_model, generator=torch.Generator().manual_seed(seed))
    logits = x @ MoELayer(cfg).router.weight.detach().t()
    chosen = torch.softmax(logits, -1).topk(cfg.top_k, dim=-1).indices.tolist()
    return chosen


@pytest.mark.parametrize("cf", [0.5, 1.0, 1.25])
def test_rows_match_a_naive_position_queue(cf):
    cfg = MoEConfig(d_model=8, d_hidden=8, num_experts=4, top_k=2, device="cpu", seed=2)
    T = 24
    r = dropless_vs_capacity(cfg, T, 7, cf)
    chosen = naive_rows(cfg, T, 7)
    dropless = [sum(row.count(e) for row in chosen) for e in range(4)]
    C = math.ceil(cf * T * 2 / 4)
    kept, filled, lost_all = [0] * 4, [0] * 4, 0
    slots_kept = [[False, False] for _ in range(T)]
    for j in range(2):  # position policy: every first choice, in token order, then every second choice
        for t in range(T):
            e = chosen[t][j]
            if filled[e] < C:
                filled[e] += 1
                slots_kept[t][j] = True
    kept = filled
    lost_all = sum(1 for s in slots_kept if not any(s))
    assert r.rows_dropless == dropless and r.rows_kept == kept and r.capacity == C
    assert r.dropped_slots == sum(dropless) - sum(kept) and r.tokens_lost_all == lost_all
    assert r.busiest_over_mean == pytest.approx(max(dropless) / (sum(dropless) / 4))
    assert r.buffer_rows == 4 * C and r.slots == T * 2
    assert r.tokens_changed == sum(1 for s in slots_kept if not all(s))  # lost a copy: another output
    assert (r.max_output_change > 0) == (r.tokens_changed > 0)


def test_the_unlimited_run_equals_the_layer_without_capacity():
    cfg = MoEConfig(d_model=8, d_hidden=8, num_experts=4, top_k=2, device="cpu", seed=2)
    free = capacity_demo(cfg, 16, 3).trace
    r = dropless_vs_capacity(cfg, 16, 3, 0.75)
    assert r.rows_dropless == free.tokens_per_expert.tolist()


def test_switch_gets_a_dropless_run_and_expert_choice_is_refused():
    switch = MoEConfig(d_model=8, d_hidden=8, num_experts=4, top_k=1, router="switch", device="cpu")
    r = dropless_vs_capacity(switch, 16, 0, 0.5)
    assert sum(r.rows_dropless) == 16 and r.dropped_slots == 16 - sum(r.rows_kept)
    with pytest.raises(ValueError, match="expert choice"):
        dropless_vs_capacity(MoEConfig(router="expert_choice", device="cpu"), 8, 0, 1.0)
