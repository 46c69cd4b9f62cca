"""bfloat16 vs fp32 routing: the step size against torch's own bfloat16 spacing, the effect against a naive loop."""
import math

import pytest
import torch

from moeviz.precision import bfloat16_step, precision_demo, rounding_effect


@pytest.mark.parametrize("value", [1.5, 3.0, 21.9, 65.9, 219.7])
def test_bfloat16_step_is_the_gap_to_the_next_bfloat16(value):
    v = torch.tensor(value, dtype=torch.bfloat16)
    # the exponent of the rounded value can differ at a power of two; these values sit well inside a binade
    gap = torch.nextafter(v, torch.tensor(math.inf, dtype=torch.bfloat16)) - v
    assert bfloat16_step(value) == pytest.approx(float(gap))


def naive(logits, k):
    """Per token in plain Python: softmax, the k largest (ties to the lower index, as topk), renormalised."""
    out = []
    for row in logits.tolist():
        exps = [math.exp(v - max(row)) for v in row]
        p = [e / sum(exps) for e in exps]
        chosen = sorted(range(len(p)), key=lambda e: (-p[e], e))[:k]
        out.append((p, set(chosen), {e: p[e] / sum(p[c] for c in chosen) for e in chosen}))
    return out


def test_rounding_effect_matches_a_naive_loop():
    logits = torch.randn(40, 16, generator=torch.Generator().manual_seed(0)) * 20
    r = rounding_effect(logits, 4)
    exact, rounded = naive(logits, 4), naive(logits.to(torch.bfloat16).float(), 4)
    prob_error = max(abs(a - b) for (pa, _, _), (pb, _, _) in zip(exact, rounded) for a, b in zip(pa, pb))
    changed = [ea != eb for (_, ea, _), (_, eb, _) in zip(exact, rounded)]
    weight_error = max([abs(wa[e] - wb[e]) for (_, ea, wa), (_, eb, wb) in zip(exact, rounded) if ea == eb
                        for e in ea])
    assert r["max_prob_error"] == pytest.approx(prob_error, abs=1e-6)
    assert r["changed_choice"] == pytest.approx(sum(changed) / 40)
    assert r["max_weight_error"] == pytest.approx(weight_error, abs=1e-6)
    assert r["bf16_step"] == bfloat16_step(float(logits.abs().max()))


def test_a_shared_shift_changes_nothing_exactly_but_flips_choices_in_bfloat16():
    """At the page's default layer (N = 8, k = 2, seed 0) rounding must flip some tokens' experts (it did at
    no scale before: scaling grows the differences with the logits)."""
    rows = precision_demo(8, 2, seed=0)
    assert [r["shift"] for r in rows] == sorted(r["shift"] for r in rows) and rows[0]["shift"] == 0
    changed = [r["changed_choice"] for r in rows]
    assert changed[-1] > 0.1 and changed[-1] > changed[0]
    assert rows[0]["bf16_step"] < rows[-1]["bf16_step"]
    # the exact routing ignores the shift: softmax -> top-k of logits + s picks the same experts
    from moeviz.config import MoEConfig
    from moeviz.layer import MoELayer
    from moeviz.router import softmax_topk
    cfg = MoEConfig(d_model=32, d_hidden=8, num_experts=8, top_k=2, seed=0, device="cpu")
    x = torch.randn(256, 32, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        logits = MoELayer(cfg).eval()(x)[1].router_logits.double()
    plain, shifted = softmax_topk(logits, 2), softmax_topk(logits + 64.0, 2)
    assert torch.equal(plain.topk_indices, shifted.topk_indices)
    torch.testing.assert_close(plain.topk_weights, shifted.topk_weights)
