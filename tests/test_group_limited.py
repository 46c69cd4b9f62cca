"""Group-limited (node-limited) routing: against a naive loop and against transformers' DeepseekV3TopkRouter."""
import pytest
import torch
from torch.testing import assert_close

from moeviz import MoEConfig, MoELayer
from moeviz.router import group_limited, sigmoid_bias
from tests.helpers import tokens


def naive_group_topk(scores, bias, top_k, n_group, topk_group):
    """Per token, in plain Python: rank groups by the sum of their two best biased scores, keep topk_group of
    them, then take the top_k biased scores inside the kept groups; weights are unbiased scores, renormalised."""
    T, E = scores.shape
    size = E // n_group
    chosen, weights = [], []
    for t in range(T):
        biased = [float(scores[t, e] + bias[e]) for e in range(E)]
        group_score = [sum(sorted(biased[g * size:(g + 1) * size], reverse=True)[:2]) for g in range(n_group)]
        kept = sorted(range(n_group), key=lambda g: -group_score[g])[:topk_group]
        allowed = [e for g in kept for e in range(g * size, (g + 1) * size)]
        picks = sorted(allowed, key=lambda e: -biased[e])[:top_k]
        w = [float(scores[t, e]) for e in picks]
        chosen.append(sorted(picks))
        weights.append([w[picks.index(e)] / sum(w) for e in sorted(picks)])
    return chosen, weights


def sorted_pairs(indices, weights):
    order = indices.argsort(dim=-1)
    return indices.gather(-1, order), weights.gather(-1, order)


@pytest.mark.parametrize("n_group,topk_group,top_k", [(4, 2, 3), (8, 4, 8), (4, 1, 2)])
def test_group_limited_matches_a_naive_loop(n_group, topk_group, top_k):
    g = torch.Generator().manual_seed(n_group * 10 + topk_group)
    logits, bias = torch.randn(20, 16, generator=g) * 2, torch.randn(16, generator=g) * 0.1
    r = sigmoid_bias(logits, top_k, bias, True, n_group, topk_group)
    chosen, weights = naive_group_topk(torch.sigmoid(logits), bias, top_k, n_group, topk_group)
    indices, w = sorted_pairs(r.topk_indices, r.topk_weights)
    assert indices.tolist() == chosen
    assert_close(w, torch.tensor(weights))


def test_every_token_stays_within_topk_group_groups_and_one_group_is_a_no_op():
    logits = torch.randn(64, 32, generator=torch.Generator().manual_seed(1))
    bias = torch.zeros(32)
    r = sigmoid_bias(logits, 8, bias, True, 8, 4)
    assert ((r.topk_indices // 4).sort(dim=-1).values.diff(dim=-1) != 0).sum(dim=-1).max() + 1 <= 4
    plain, one = sigmoid_bias(logits, 8, bias), sigmoid_bias(logits, 8, bias, True, 1, 1)
    assert torch.equal(plain.topk_indices, one.topk_indices)
    assert group_limited(logits, 8, 8).all()


def test_matches_transformers_deepseek_v3_topk_router():
    from transformers import DeepseekV3Config
    from transformers.models.deepseek_v3.modeling_deepseek_v3 import DeepseekV3TopkRouter

    E, D, k = 16, 12, 4
    hf_cfg = DeepseekV3Config(hidden_size=D, n_routed_experts=E, num_experts_per_tok=k, n_group=4, topk_group=2,
                              norm_topk_prob=True, routed_scaling_factor=1.0)
    layer = MoELayer(MoEConfig(d_model=D, d_hidden=8, num_experts=E, top_k=k, router="sigmoid_bias", n_group=4,
                               topk_group=2, device="cpu", seed=5)).eval()
    layer.selection_bias.copy_(torch.randn(E, generator=torch.Generator().manual_seed(2)) * 0.05)
    hf = DeepseekV3TopkRouter(hf_cfg)
    with torch.no_grad():
        hf.weight.copy_(layer.router.weight)
        hf.e_score_correction_bias.copy_(layer.selection_bias)
        x = tokens(40, D)
        _, hf_weights, hf_indices = hf(x)
        _, trace = layer(x)
    ours = sorted_pairs(trace.topk_indices, trace.topk_weights)
    theirs = sorted_pairs(hf_indices, hf_weights)
    assert torch.equal(ours[0], theirs[0])
    assert_close(ours[1], theirs[1])


def test_config_rejects_groups_that_do_not_fit():
    base = dict(num_experts=8, top_k=2, router="sigmoid_bias")
    MoEConfig(**base, n_group=4, topk_group=1)
    for bad, match in ((dict(n_group=3), "divide"), (dict(n_group=4, topk_group=5), "between 1"),
                       (dict(n_group=8, topk_group=1), "fewer than"), (dict(n_group=0), "positive")):
        with pytest.raises(ValueError, match=match):
            MoEConfig(**base, **bad)
    with pytest.raises(ValueError, match="sigmoid_bias"):
        MoEConfig(num_experts=8, top_k=2, n_group=4, topk_group=2)
