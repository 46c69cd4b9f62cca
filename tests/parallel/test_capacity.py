"""Capacity drops on a hand-computed case, and the buffers the page draws (in the layer's own queue order)."""
import pytest
import torch

from moeviz import MoEConfig, MoELayer
from moeviz.config import DROP_POLICIES
from moeviz.dispatch import capacity_drops
from moeviz.parallel.capacity import capacity_demo, dropped_tokens, expert_buffers


def test_hand_computed_drops_by_position_and_by_weight():
    # 5 tokens, top-1, 2 experts, C = 2. Expert 0 is chosen by tokens 0, 1, 2, 4; expert 1 by token 3.
    idx = torch.tensor([[0], [0], [0], [1], [0]])
    w = torch.tensor([[0.6], [0.9], [0.7], [0.8], [0.95]])
    by_position = capacity_drops(idx, w, num_experts=2, capacity=2, policy="position")
    assert by_position.squeeze(1).tolist() == [False, False, True, False, True]  # tokens 2 and 4 came late
    by_weight = capacity_drops(idx, w, num_experts=2, capacity=2, policy="weight")
    assert by_weight.squeeze(1).tolist() == [True, False, True, False, False]  # 0.95 and 0.9 win


def test_second_choices_queue_after_all_first_choices():
    # top-2: token 1's first choice (expert 1) beats token 0's second choice (also expert 1) under "position".
    idx = torch.tensor([[0, 1], [1, 0]])
    w = torch.tensor([[0.5, 0.5], [0.5, 0.5]])
    dropped = capacity_drops(idx, w, num_experts=2, capacity=1, policy="position")
    assert dropped.tolist() == [[False, True], [False, True]]


def _demo(policy: str, router: str = "switch", top_k: int = 1):
    cfg = MoEConfig(d_model=8, d_hidden=8, num_experts=4, top_k=top_k, router=router, capacity_factor=0.5,
                    drop_policy=policy, device="cpu", seed=2)
    return cfg, capacity_demo(cfg, num_tokens=16, token_seed=0)


@pytest.mark.parametrize("router,top_k", [("switch", 1), ("softmax_topk", 2)])
@pytest.mark.parametrize("policy", DROP_POLICIES)
def test_buffers_hold_at_most_capacity_and_match_the_layer(policy, router, top_k):
    cfg, demo = _demo(policy, router, top_k)
    trace = demo.trace
    C = cfg.capacity(16)
    assert C == 2 * top_k  # ceil(0.5 * 16 * k / 4)
    buffers = expert_buffers(demo, policy)
    for e, slots in enumerate(buffers):
        kept = [s for s in slots if s.kept]
        assert len(kept) == min(C, len(slots)) == trace.tokens_per_expert[e].item()
        assert all(s.kept for s in slots[:len(kept)])  # the queue order is the layer's: its first C got in
    assert sum(len(q) for q in buffers) == 16 * top_k  # every copy drawn once
    total_dropped = sum(not s.kept for q in buffers for s in q)
    assert total_dropped == int(trace.dropped.sum())
    assert abs(trace.metrics["dropped_fraction"] - total_dropped / (16 * top_k)) < 1e-9


def test_weight_policy_queues_each_expert_by_combine_weight():
    _, demo = _demo("weight", "softmax_topk", 2)
    for slots in expert_buffers(demo, "weight"):
        weights = [s.weight for s in slots]
        assert weights == sorted(weights, reverse=True)


def test_priority_policy_queues_choice_by_choice_then_by_the_tokens_top_probability():
    _, demo = _demo("priority", "softmax_topk", 2)
    top = demo.trace.router_probs.max(dim=1).values
    for slots in expert_buffers(demo, "priority"):
        keys = [(s.choice, -float(top[s.token])) for s in slots]
        assert keys == sorted(keys)


def test_buffers_show_weights_before_the_drops():
    _, demo = _demo("position", "softmax_topk", 2)
    lost = [s for q in expert_buffers(demo, "position") for s in q if not s.kept]
    assert lost and all(s.weight > 0 for s in lost)  # the trace's own weights are 0 there
    torch.testing.assert_close(demo.routed_weights.sum(dim=1), torch.ones(16))  # renormalised, before drops


def test_a_fully_dropped_token_gets_only_the_residual():
    cfg, demo = _demo("position")
    gone = dropped_tokens(demo.trace)
    assert gone  # capacity 0.5 must drop somebody
    y, _ = MoELayer(cfg).eval()(demo.x)
    torch.testing.assert_close(y[gone], torch.zeros(len(gone), cfg.d_model))  # block output = x + 0
