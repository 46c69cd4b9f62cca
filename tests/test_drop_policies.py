"""The three capacity drop policies against a naive per-slot loop, with k = 2, where their orders differ."""
import pytest
import torch

from moeviz import MoEConfig
from moeviz import router as gating
from moeviz.config import DROP_POLICIES
from moeviz.dispatch import capacity_drops
from tests.helpers import make_layer, tokens


def naive_drops(topk_indices, topk_weights, router_probs, num_experts, capacity, policy):
    """Sort every (token, choice) slot by the policy's rule in plain Python, then fill each expert in that order."""
    T, K = topk_indices.shape
    best = [max(float(router_probs[t, int(topk_indices[t, j])]) for j in range(K)) for t in range(T)]
    rule = {"position": lambda t, j: (j, t),  # GShard / Switch: choice by choice, token order
            "priority": lambda t, j: (j, -best[t], t),  # V-MoE BPR: choice by choice, most confident token first
            "weight": lambda t, j: (-float(topk_weights[t, j]), j, t)}[policy]  # Megatron-Core "probs"
    filled = [0] * num_experts
    dropped = torch.zeros(T, K, dtype=torch.bool)
    for t, j in sorted(((t, j) for t in range(T) for j in range(K)), key=lambda slot: rule(*slot)):
        e = int(topk_indices[t, j])
        if filled[e] < capacity:
            filled[e] += 1
        else:
            dropped[t, j] = True
    return dropped


def _routing(probs, norm_topk_prob=True):
    """Top-2 routing of given router probabilities, by the layer's own softmax -> top-k rule."""
    return gating.softmax_topk(torch.tensor(probs).log(), 2, norm_topk_prob)


def _drops(routing, capacity, policy):
    return capacity_drops(routing.topk_indices, routing.topk_weights, routing.router_probs.shape[1], capacity,
                          policy, routing.router_probs)


def _spread(first: dict, num_experts: int) -> list:
    """A probability row: the given experts' values, the rest shared evenly by the other experts."""
    rest = (1 - sum(first.values())) / (num_experts - len(first))
    return [first.get(e, rest) for e in range(num_experts)]


def test_three_policies_keep_three_different_first_choices():
    # Expert 0 has one slot (C = 1) and three first choices queue for it:
    #   token 0: p = 0.40 (second choice 0.35, so weight 0.53); token 1: p = 0.45 (second 0.40, weight 0.53);
    #   token 2: p = 0.30 (second 0.05, weight 0.86).
    E = 16
    probs = [_spread({0: 0.40, 1: 0.35}, E), _spread({0: 0.45, 2: 0.40}, E), _spread({0: 0.30, 3: 0.05}, E)]
    routing = _routing(probs)
    kept_on_expert_0 = {policy: [t for t in range(3) if not _drops(routing, 1, policy)[t, 0]]
                        for policy in DROP_POLICIES}
    assert kept_on_expert_0 == {"position": [0], "priority": [1], "weight": [2]}
    # Under "weight" the copies with router probability 0.40 and 0.45 lose to the one with 0.30.
    assert not _drops(routing, 1, "weight")[:, 1].any()  # every second choice had an expert to itself


def test_weight_lets_a_second_choice_beat_a_first_choice_without_renormalisation():
    # OLMoE-style weights (not renormalised): token 0's second choice (p = 0.45) and token 1's first choice
    # (p = 0.30) both want expert 0, which has one slot.
    E = 8
    probs = [_spread({1: 0.50, 0: 0.45}, E), _spread({0: 0.30, 2: 0.25}, E)]
    routing = _routing(probs, norm_topk_prob=False)
    assert routing.topk_indices[0].tolist() == [1, 0] and routing.topk_indices[1].tolist() == [0, 2]
    for policy in ("position", "priority"):  # first choices first: token 0's second choice loses
        assert _drops(routing, 1, policy).tolist() == [[False, True], [False, False]]
    assert _drops(routing, 1, "weight").tolist() == [[False, False], [True, False]]


@pytest.mark.parametrize("policy", DROP_POLICIES)
@pytest.mark.parametrize("norm_topk_prob", [True, False])
@pytest.mark.parametrize("seed", range(6))
def test_each_policy_matches_the_naive_loop_on_random_top2_batches(policy, norm_topk_prob, seed):
    g = torch.Generator().manual_seed(seed)
    T, E = 24, 4
    routing = gating.softmax_topk(2 * torch.randn(T, E, generator=g), 2, norm_topk_prob)
    for capacity in (1, 5, 9, 12):
        expected = naive_drops(routing.topk_indices, routing.topk_weights, routing.router_probs, E, capacity,
                               policy)
        assert torch.equal(_drops(routing, capacity, policy), expected), capacity


def test_the_orders_differ_on_random_batches_too():
    # Not a corner case: on random top-2 batches the policies often drop different copies.
    differ = {"position/priority": 0, "priority/weight": 0}
    for seed in range(20):
        routing = gating.softmax_topk(2 * torch.randn(24, 4, generator=torch.Generator().manual_seed(seed)), 2)
        d = {p: _drops(routing, 10, p) for p in DROP_POLICIES}
        differ["position/priority"] += not torch.equal(d["position"], d["priority"])
        differ["priority/weight"] += not torch.equal(d["priority"], d["weight"])
    assert min(differ.values()) >= 5, differ


@pytest.mark.parametrize("policy", DROP_POLICIES)
def test_the_layer_drops_what_the_naive_loop_drops(policy):
    layer = make_layer("softmax_topk", num_experts=4, capacity_factor=0.5, drop_policy=policy)
    x = tokens(20)
    with torch.no_grad():
        _, trace = layer(x)
        r = layer.route(x)  # the routing before drops, from the layer's own code
    g = r.routing
    expected = naive_drops(g.topk_indices, g.topk_weights, g.router_probs, 4, trace.capacity, policy)
    assert torch.equal(trace.dropped, expected)
    assert trace.dropped.any()


def test_priority_needs_router_probabilities():
    idx, w = torch.tensor([[0, 1]]), torch.tensor([[0.6, 0.4]])
    with pytest.raises(ValueError, match="router_probs"):
        capacity_drops(idx, w, num_experts=2, capacity=1, policy="priority")


def test_an_old_config_with_probability_means_weight():
    with pytest.warns(DeprecationWarning, match="weight"):
        cfg = MoEConfig(drop_policy="probability")
    assert cfg.drop_policy == "weight" and cfg == MoEConfig(drop_policy="weight")
