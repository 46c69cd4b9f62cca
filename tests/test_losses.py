"""Losses and metrics against independent formulas and the HF reference."""
import math

import pytest
import torch

from moeviz import losses
from moeviz import router as gating
from tests.helpers import make_layer, tokens


def hf_mixtral_balance_loss(router_logits, top_k, num_experts):
    """transformers' load_balancing_loss_func (no attention mask), copied as the outside reference."""
    routing_weights = torch.softmax(router_logits, dim=-1)
    _, selected_experts = torch.topk(routing_weights, top_k, dim=-1)
    expert_mask = torch.nn.functional.one_hot(selected_experts, num_experts)
    tokens_per_expert = torch.mean(expert_mask.float(), dim=0)
    router_prob_per_expert = torch.mean(routing_weights, dim=0)
    return torch.sum(tokens_per_expert * router_prob_per_expert.unsqueeze(0)) * num_experts


@pytest.mark.parametrize("top_k", [1, 2, 3])
def test_balance_loss_matches_hf_divided_by_k(top_k):
    logits = tokens(40, d_model=8, seed=top_k)
    probs = torch.softmax(logits, -1)
    selected = torch.bincount(torch.topk(probs, top_k).indices.reshape(-1), minlength=8)
    ours = losses.load_balance_loss(probs, selected)
    torch.testing.assert_close(ours * top_k, hf_mixtral_balance_loss(logits, top_k, 8))


def test_balance_loss_is_one_at_perfect_balance_and_n_when_collapsed():
    N = 4
    uniform = torch.full((8, N), 1 / N)
    assert losses.load_balance_loss(uniform, torch.full((N,), 4)).item() == pytest.approx(1.0)
    collapsed_probs = torch.zeros(8, N)
    collapsed_probs[:, 0] = 1.0
    assert losses.load_balance_loss(collapsed_probs, torch.tensor([8, 0, 0, 0])).item() == pytest.approx(N)


def test_layer_balance_loss_is_formula_of_its_trace():
    _, trace = make_layer()(tokens(30))
    f = torch.bincount(trace.topk_indices.reshape(-1), minlength=6).float() / (30 * 2)
    expected = 6 * (f * trace.router_probs.mean(0)).sum()
    torch.testing.assert_close(trace.balance_loss, expected)


def test_z_loss_formula():
    logits = tokens(5, d_model=6)
    expected = sum(math.log(sum(math.exp(v) for v in row)) ** 2 for row in logits.tolist()) / 5
    assert losses.z_loss(logits).item() == pytest.approx(expected, rel=1e-5)


def test_cv_squared_formula():
    x = torch.tensor([1.0, 2.0, 3.0, 6.0])
    mean = 3.0
    var = sum((v - mean) ** 2 for v in x.tolist()) / 3
    assert losses.cv_squared(x).item() == pytest.approx(var / mean ** 2, rel=1e-5)
    assert losses.cv_squared(torch.ones(5)).item() == 0.0


def test_load_stats_and_entropy():
    assert losses.load_stat_tensors(torch.tensor([2, 2, 2, 2])).tolist() == [0.0, 1.0]
    cv, ratio = losses.load_stat_tensors(torch.tensor([8, 0, 0, 0])).tolist()
    assert ratio == pytest.approx(4.0) and cv == pytest.approx(math.sqrt(3))
    assert losses.router_entropy(torch.full((3, 8), 1 / 8)).item() == pytest.approx(math.log(8))


def test_noisy_topk_load_estimate_tracks_counts_when_noise_is_tiny():
    clean = tokens(200, d_model=5, seed=4) * 3
    noise_std = torch.full_like(clean, 1e-4)
    noisy = clean + torch.randn(clean.shape, generator=torch.Generator().manual_seed(1)) * noise_std
    load = gating.noisy_topk_load(clean, noisy, noise_std, top_k=2)
    counts = torch.bincount(torch.topk(noisy, 2).indices.reshape(-1), minlength=5).float()
    torch.testing.assert_close(load, counts, atol=2.0, rtol=0.02)


def test_aux_loss_free_bias_update_lowers_max_mean_load():
    layer = make_layer("sigmoid_bias", num_experts=8, top_k=2, bias_update_rate=0.01)
    with torch.no_grad():
        layer.router.weight[0] += 1.0  # skew: expert 0 attracts almost every token
    x = tokens(256, seed=5) + 0.5
    _, start = layer(x)
    for _ in range(100):
        _, trace = layer(x)
        layer.update_selection_bias(trace.tokens_per_expert)
    _, end = layer(x)
    assert start.metrics["max_mean_load"] >= 2.0
    assert end.metrics["max_mean_load"] < 0.75 * start.metrics["max_mean_load"]
    torch.testing.assert_close(end.router_probs, start.router_probs)  # only selection moved


def test_update_selection_bias_rule():
    bias = torch.zeros(3)
    new = gating.update_selection_bias(bias, torch.tensor([5, 1, 3]), rate=0.1)
    torch.testing.assert_close(new, torch.tensor([-0.1, 0.1, 0.0]))


def test_balance_loss_can_go_below_one():
    # Top-1 routing: 6 unsure tokens pick expert 0 (p = 0.51), 4 sure ones pick expert 1 (p = 0.98). The busy
    # expert 0 has the lower mean probability, so N * sum f_i P_i comes out under the perfect-balance value 1.
    probs = torch.tensor([[0.51, 0.49]] * 6 + [[0.02, 0.98]] * 4)
    chosen = probs.argmax(dim=1)
    selected = torch.bincount(chosen, minlength=2)
    by_hand = 2 * sum((selected[i] / 10) * probs[:, i].mean() for i in range(2))  # f = (0.6, 0.4)
    loss = losses.load_balance_loss(probs, selected)
    torch.testing.assert_close(loss, by_hand)
    assert loss < 1.0
