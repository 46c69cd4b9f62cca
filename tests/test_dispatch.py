"""Capacity drops against hand-worked cases."""
import torch

from moeviz.dispatch import capacity_drops


def test_position_policy_first_choices_then_earlier_tokens():
    # 4 tokens, k=2, 3 experts, capacity 2
    topk_indices = torch.tensor([[0, 1], [0, 2], [0, 1], [1, 0]])
    topk_weights = torch.tensor([[.6, .4], [.7, .3], [.9, .1], [.5, .5]])
    dropped = capacity_drops(topk_indices, topk_weights, num_experts=3, capacity=2, policy="position")
    # First choices in token order: t0->0, t1->0, t2->0 (overflow), t3->1; then second choices:
    # t0->1 (expert 1 has t3: fits), t1->2 (fits), t2->1 (overflow), t3->0 (overflow)
    expected = torch.tensor([[False, False], [False, False], [True, True], [False, True]])
    assert torch.equal(dropped, expected)


def test_weight_policy_keeps_highest_weights():
    topk_indices = torch.tensor([[0], [0], [0], [1]])
    topk_weights = torch.tensor([[.2], [.9], [.5], [.3]])
    dropped = capacity_drops(topk_indices, topk_weights, num_experts=2, capacity=2, policy="weight")
    assert dropped[:, 0].tolist() == [True, False, False, False]


def test_large_capacity_drops_nothing():
    idx = torch.randint(0, 4, (50, 2), generator=torch.Generator().manual_seed(0))
    assert not capacity_drops(idx, torch.rand(50, 2), 4, capacity=100).any()


def test_unknown_strategy_is_refused():
    import pytest
    from moeviz.dispatch import dispatch
    from tests.helpers import make_layer, tokens
    layer = make_layer()
    idx = torch.zeros(3, 2, dtype=torch.long)
    with pytest.raises(ValueError, match="unknown dispatch strategy"):
        dispatch(layer.experts, tokens(3), idx, torch.ones(3, 2, dtype=torch.bool), "fancy")
