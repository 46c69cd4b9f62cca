"""A token alone vs in its batch: each setting against a naive computation of who gets which experts."""
import math

import torch

from moeviz import MoEConfig, MoELayer
from moeviz.inference import D_HIDDEN, D_MODEL, SETTINGS, alone_vs_batch, token_table

E, K, T, SEED = 4, 2, 12, 3


def probs_of(router, top_k, cf):
    cfg = MoEConfig(d_model=D_MODEL, d_hidden=D_HIDDEN, num_experts=E, top_k=top_k, router=router,
                    capacity_factor=cf, seed=SEED, device="cpu")
    x = torch.randn(T, D_MODEL, generator=torch.Generator().manual_seed(SEED + 1))
    return torch.softmax(x @ MoELayer(cfg).router.weight.detach().t(), dim=-1).tolist()


def test_each_setting_matches_a_naive_router():
    rows = {r.key: r for r in alone_vs_batch(E, K, T, SEED)}
    assert [r for r in rows] == [key for key, *_ in SETTINGS]
    p = probs_of("softmax_topk", K, None)
    topk = [sorted(sorted(range(E), key=lambda e: -row[e])[:K]) for row in p]
    assert rows["dropless"].experts_in_batch == rows["dropless"].experts_alone == topk
    assert rows["dropless"].tokens_changed == 0 and max(rows["dropless"].output_change) < 1e-5
    first = [max(range(E), key=lambda e: row[e]) for row in probs_of("switch", 1, 1.25)]
    for key, cf in (("switch_train", 1.25), ("switch_eval", 2.0)):
        C, seen, in_batch = math.ceil(cf * T / E), [0] * E, []
        for e in first:  # position order: earlier tokens first
            seen[e] += 1
            in_batch.append([e] if seen[e] <= C else [])
        assert rows[key].capacity_in_batch == C and rows[key].capacity_alone == 1
        assert rows[key].experts_in_batch == in_batch
        assert rows[key].experts_alone == [[e] for e in first]  # alone, a token never overflows
        assert rows[key].tokens_changed == sum(1 for b in in_batch if not b)
    p = probs_of("expert_choice", K, None)
    C = math.ceil(T * K / E)
    picks = [set(sorted(range(T), key=lambda t: -p[t][e])[:C]) for e in range(E)]
    ec = rows["expert_choice"]
    assert ec.experts_in_batch == [[e for e in range(E) if t in picks[e]] for t in range(T)]
    assert ec.experts_alone == [list(range(E))] * T  # one slot per expert and one token to fill it


def test_token_table_reads_the_rows():
    rows = alone_vs_batch(E, K, T, SEED)
    table = token_table(rows, 0)
    assert [r["routing"] for r in table] == [label for _, label, *_ in SETTINGS]
    assert table[-1]["experts alone (decode)"] == ", ".join(f"E{e}" for e in range(E))
    assert table[0]["C in the batch"] == "no limit"
