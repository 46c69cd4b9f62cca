"""Capacity drops on a hand-computed case, and the buffers the page draws."""
import torch

from moeviz import MoEConfig, MoELayer
from moeviz.dispatch import capacity_drops
from moeviz.parallel.capacity import capacity_demo, dropped_tokens, expert_buffers


def test_hand_computed_drops_by_position_and_by_probability():
    # 5 tokens, top-1, 2 experts, C = 2. Expert 0 is chosen by tokens 0, 1, 2, 4; expert 1 by token 3.
    idx = torch.tensor([[0], [0], [0], [1], [0]])
    w = torch.tensor([[0.6], [0.9], [0.7], [0.8], [0.95]])
    by_position = capacity_drops(idx, w, num_experts=2, capacity=2, policy="position")
    assert by_position.squeeze(1).tolist() == [False, False, True, False, True]  # tokens 2 and 4 came late
    by_probability = capacity_drops(idx, w, num_experts=2, capacity=2, policy="probability")
    assert by_probability.squeeze(1).tolist() == [True, False, True, False, False]  # 0.95 and 0.9 win


def test_second_choices_queue_after_all_first_choices():
    # top-2: token 1's first choice (expert 1) beats token 0's second choice (also expert 1) under "position".
    idx = torch.tensor([[0, 1], [1, 0]])
    w = torch.tensor([[0.5, 0.5], [0.5, 0.5]])
    dropped = capacity_drops(idx, w, num_experts=2, capacity=1, policy="position")
    assert dropped.tolist() == [[False, True], [False, True]]


def _switch_trace(policy: str):
    cfg = MoEConfig(d_model=8, d_hidden=8, num_experts=4, top_k=1, router="switch", capacity_factor=0.5,
                    drop_policy=policy, device="cpu", seed=2)
    return cfg, capacity_demo(cfg, num_tokens=16, token_seed=0)


def test_buffers_hold_at_most_capacity_and_match_the_layer():
    for policy in ("position", "probability"):
        cfg, (x, trace) = _switch_trace(policy)
        C = cfg.capacity(16)
        assert C == 2  # ceil(0.5 * 16 * 1 / 4)
        buffers = expert_buffers(trace, policy)
        for e, slots in enumerate(buffers):
            kept = [s for s in slots if s.kept]
            assert len(kept) == min(C, len(slots)) == trace.tokens_per_expert[e].item()
            assert all(not s.kept for s in slots[len(kept):])  # overflow after the slots
        total_dropped = sum(not s.kept for q in buffers for s in q)
        assert total_dropped == int(trace.dropped.sum())
        assert abs(trace.metrics["dropped_fraction"] - total_dropped / 16) < 1e-9


def test_probability_policy_keeps_the_most_confident_tokens():
    _, (_, trace) = _switch_trace("probability")
    for slots in expert_buffers(trace, "probability"):
        kept = [s.weight for s in slots if s.kept]
        lost = [s.weight for s in slots if not s.kept]
        if kept and lost:
            assert min(kept) >= max(lost)


def test_a_fully_dropped_token_gets_only_the_residual():
    cfg, (x, trace) = _switch_trace("position")
    gone = dropped_tokens(trace)
    assert gone  # capacity 0.5 must drop somebody
    y, _ = MoELayer(cfg).eval()(x)
    torch.testing.assert_close(y[gone], torch.zeros(len(gone), cfg.d_model))  # block output = x + 0
