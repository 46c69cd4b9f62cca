"""What-if: a checkpoint's real router logits under every moeviz variant, against the gating functions."""
import pytest
import torch
from torch.testing import assert_close

from moeviz import router as gating
from moeviz.config import MoEConfig
from moeviz.dispatch import capacity_drops
from moeviz.hf.whatif import what_if
from moeviz.variants import VARIANT_KEYS

TEXT = "def route(x): return x.topk(2)  # The router sends each token to two experts."


@pytest.fixture(scope="module")
def mixtral_trace(tiny_models):
    routing = tiny_models["mixtral"].route(TEXT)
    return routing.traces[1], routing.tokens


def _reference(variant, logits, k):
    """The moeviz gating function each variant names, called directly: (indices, weights)."""
    r = {"softmax_topk_norm": lambda: gating.softmax_topk(logits, k, True),
         "softmax_topk_raw": lambda: gating.softmax_topk(logits, k, False),
         "topk_softmax": lambda: gating.topk_softmax(logits, k),
         "sigmoid_bias": lambda: gating.sigmoid_bias(logits, k, torch.zeros(logits.shape[1])),
         "noisy_topk": lambda: gating.noisy_topk(logits, k),  # no noise at inference
         "switch": lambda: gating.switch(logits)}[variant]()
    return r.topk_indices, r.topk_weights


@pytest.mark.parametrize("variant", [v for v in VARIANT_KEYS if v != "expert_choice"])
def test_token_choice_variants_match_the_gating_functions(mixtral_trace, variant):
    trace, _ = mixtral_trace
    w = what_if(trace, variant)
    indices, weights = _reference(variant, trace.router_logits, trace.top_k)
    assert_close(w.trace.topk_indices, indices, rtol=0, atol=0)
    assert_close(w.trace.router_logits, trace.router_logits, rtol=0, atol=0)  # the identity router is exact
    T, E = trace.router_logits.shape
    capacity = MoEConfig(num_experts=E, top_k=indices.shape[1], router=w.config.router).capacity(T)
    dropped = torch.zeros_like(indices, dtype=torch.bool) if capacity is None else \
        capacity_drops(indices, weights, E, capacity)
    assert_close(w.trace.dropped, dropped, rtol=0, atol=0)
    assert_close(w.trace.topk_weights, weights * ~dropped)


def test_expert_choice_matches_the_gating_function(mixtral_trace):
    trace, _ = mixtral_trace
    w = what_if(trace, "expert_choice", capacity_factor=1.0)
    T, E = trace.router_logits.shape
    _, picked, _ = gating.expert_choice(trace.router_logits, MoEConfig(
        num_experts=E, top_k=2, router="expert_choice", capacity_factor=1.0).capacity(T))
    assert_close(w.lost, _ran(trace) & ~picked, rtol=0, atol=0)
    assert_close(w.gained, picked & ~_ran(trace), rtol=0, atol=0)


def _ran(trace):
    return torch.zeros(trace.router_logits.shape, dtype=torch.bool).scatter_(1, trace.topk_indices, True)


def test_the_models_own_rule_changes_nothing(mixtral_trace):
    trace, _ = mixtral_trace  # Mixtral's rule is softmax -> top-k, renormalised
    w = what_if(trace, "softmax_topk_norm")
    assert not w.lost.any() and not w.gained.any() and w.rows() == []
    assert_close(w.trace.topk_weights, trace.topk_weights)


def test_switch_at_capacity_one_says_which_tokens_lose_which_experts(mixtral_trace):
    trace, labels = mixtral_trace
    w = what_if(trace, "switch", capacity_factor=1.0)
    T, E = trace.router_logits.shape
    assert w.trace.top_k == 1 and w.trace.capacity == -(-T // E)
    assert (w.trace.tokens_per_expert <= w.trace.capacity).all()
    rows = w.rows(labels)
    dropped_tokens = w.trace.dropped[:, 0].nonzero().flatten().tolist()
    assert dropped_tokens  # 1.0 leaves no slack: some expert overflows on this text
    assert [r["token"] for r in rows if r["lost (dropped)"]] == dropped_tokens
    for r in rows:  # every expert the model ran is lost except Switch's top-1 when it was not dropped
        ran = set(trace.topk_indices[r["token"]].tolist())
        kept = set() if r["token"] in dropped_tokens else {int(w.trace.topk_indices[r["token"], 0])}
        assert set(r["lost (not chosen)"]) | set(r["lost (dropped)"]) == ran - kept
        assert r["text"] == labels[r["token"]]


def test_deepseek_trace_keeps_its_selection_bias(tiny_models):
    model = tiny_models["deepseek_v3"]
    trace = model.route(TEXT).traces[0]
    w = what_if(trace, "sigmoid_bias")
    bias = model.blocks[0].router.e_score_correction_bias
    assert_close(w.trace.selection_scores - w.trace.router_probs, bias.expand(trace.num_tokens, -1))


def test_logits_tensor_source_and_bad_arguments(mixtral_trace):
    trace, _ = mixtral_trace
    w = what_if(trace.router_logits, "topk_softmax", top_k=3)
    assert w.lost is None and w.trace.top_k == 3
    with pytest.raises(ValueError, match="unknown variant"):
        what_if(trace, "random")
    with pytest.raises(ValueError, match="drop_policy"):
        what_if(trace, "switch", drop_policy="luck")


def _outlined(scatter) -> set[tuple[int, int]]:
    """(token, expert) of every square an outline trace draws (5 corners and a None each)."""
    xs, ys = list(scatter.x or ()), list(scatter.y or ())
    return {(round(min(ys[i:i + 5]) + 0.5), round(min(xs[i:i + 5]) + 0.5)) for i in range(0, len(xs), 6)}


def _running(topk_indices, dropped) -> set[tuple[int, int]]:
    """(token, expert) of every slot that ran, read slot by slot from a trace."""
    return {(t, int(e)) for t in range(topk_indices.shape[0]) for e, d in zip(topk_indices[t], dropped[t]) if not d}


def test_what_if_outlines_a_lost_expert_the_same_way_under_expert_choice(mixtral_trace):
    """Token choice marks an expert lost to capacity with a dotted outline; expert choice marked none of the
    experts the model ran and the expert did not pick (their cells had no outline at all)."""
    from moeviz.figures.routing import EXPERT_NOT_PICKED, EXPERT_PICKED, router_heatmap
    trace, labels = mixtral_trace
    model_ran = _running(trace.topk_indices, trace.dropped)
    token_choice = what_if(trace, "softmax_topk_norm", capacity_factor=0.5)
    tc_fig = router_heatmap(token_choice.trace, labels, lost=token_choice.lost)
    tc_dotted = next(d for d in tc_fig.data if d.name == "chosen, dropped")
    tc_lost_dropped = {(r["token"], e) for r in token_choice.rows(labels) for e in r["lost (dropped)"]}
    assert tc_lost_dropped and tc_lost_dropped <= _outlined(tc_dotted)

    w = what_if(trace, "expert_choice", capacity_factor=1.0)
    fig = router_heatmap(w.trace, labels, lost=w.lost)
    picked = _running(w.trace.topk_indices, w.trace.dropped)  # the experts that picked each token
    lost = model_ran - picked
    assert lost, "capacity 1.0 should leave some token without an expert the model ran"
    assert _outlined(next(d for d in fig.data if d.name == EXPERT_PICKED)) == picked
    dotted = next(d for d in fig.data if d.name == EXPERT_NOT_PICKED)
    assert _outlined(dotted) == lost and dotted.showlegend
    assert (dotted.line.color, dotted.line.dash, dotted.line.width) == \
        (tc_dotted.line.color, tc_dotted.line.dash, tc_dotted.line.width)  # the same mark as token choice's
    assert lost == {(r["token"], e) for r in w.rows(labels) for e in r["lost (dropped)"]}  # the table's cells


def test_what_if_window_cuts_trace_and_changes_alike(mixtral_trace):
    trace, labels = mixtral_trace
    w = what_if(trace, "expert_choice", capacity_factor=1.0)
    part = w.tokens(2, 6)
    assert part.trace.num_tokens == 4
    assert_close(part.trace.topk_indices, w.trace.topk_indices[2:6], rtol=0, atol=0)
    assert torch.equal(part.lost, w.lost[2:6]) and torch.equal(part.gained, w.gained[2:6])
