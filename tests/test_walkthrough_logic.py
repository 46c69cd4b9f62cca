"""moeviz.walkthrough: every number the six steps show agrees with the layer's own tensors."""
import dataclasses
import math

import numpy as np
import pytest
import torch

from moeviz import MoEConfig, MoELayer
from moeviz.config import ROUTERS
from moeviz.routers import router_spec
from moeviz.text import DEFAULT_SENTENCE
from moeviz.walkthrough import (NUM_RANDOM_VECTORS, STEP_NAMES, answer, combine_check, combine_terms,
                                compute_counts, expert_demand, gate_formula, load_summary, misreading, run_dense,
                                router_certainty, run_walkthrough, token_view, top_k_table,
                                walkthrough_inputs)


def make_run(router="softmax_topk", top_k=2, num_experts=8, capacity_factor=None, source="sentence"):
    cfg = MoEConfig(num_experts=num_experts, top_k=top_k, router=router, capacity_factor=capacity_factor,
                    device="cpu", seed=3)
    layer = MoELayer(cfg).eval()
    labels, x = walkthrough_inputs(source, DEFAULT_SENTENCE, 5, cfg.d_model)
    return layer, run_walkthrough(layer, labels, x)


def router_cases():
    for router in ROUTERS:
        yield router, MoEConfig.routed_top_k(router, 2)


def test_six_steps():
    assert len(STEP_NAMES) == 6


def test_inputs_from_sentence_and_random():
    labels, x = walkthrough_inputs("sentence", "Hello, world", 0, 16)
    assert labels == ["Hello", ",", "world"] and x.shape == (3, 16)
    labels, x = walkthrough_inputs("random", "ignored", 7, 16)
    assert len(labels) == NUM_RANDOM_VECTORS and x.shape == (NUM_RANDOM_VECTORS, 16)
    with pytest.raises(ValueError):
        walkthrough_inputs("sentence", "   ", 0, 16)


@pytest.mark.parametrize(("router", "top_k"), list(router_cases()))
def test_token_view_is_the_trace_row(router, top_k):
    layer, run = make_run(router, top_k)
    t = 2
    view = token_view(run.trace, t, run.labels)
    np.testing.assert_allclose(view.probs, run.trace.router_probs[t].double().numpy())
    np.testing.assert_array_equal(view.slots, run.trace.topk_indices[t].numpy())
    np.testing.assert_allclose(view.output, run.trace.output[t].double().numpy())
    assert view.label == run.labels[t]
    # the experts that ran are exactly the undropped slots
    assert set(view.running.tolist()) == set(run.trace.topk_indices[t][~run.trace.dropped[t]].tolist())
    assert view.vector_norm == pytest.approx(float(torch.linalg.vector_norm(run.trace.input[t].double())))


@pytest.mark.parametrize(("router", "top_k"), list(router_cases()))
def test_lost_experts_are_the_capacity_drops_and_never_expert_choices_unpicked(router, top_k):
    _, run = make_run(router, top_k, capacity_factor=0.5)
    trace = run.trace
    for t in range(trace.num_tokens):
        view = token_view(trace, t, run.labels)
        expected = [] if router_spec(router).experts_choose else trace.topk_indices[t][trace.dropped[t]].tolist()
        assert view.lost.tolist() == expected
    assert router_spec(router).experts_choose or trace.dropped.any(), "capacity 0.5 must drop some slots"


@pytest.mark.parametrize(("router", "top_k"), list(router_cases()))
def test_combine_terms_sum_to_the_layer_output(router, top_k):
    layer, run = make_run(router, top_k, capacity_factor=1.0)
    for t in range(run.trace.num_tokens):
        view = token_view(run.trace, t, run.labels)
        assert combine_check(view) < 1e-5
        for term in combine_terms(view):  # each term is weight * that expert's output on this token
            alone = layer.expert_forward(term["expert"], run.trace.input[t:t + 1])[0].detach().double().numpy()
            np.testing.assert_allclose(term["term"], term["weight"] * alone, rtol=1e-4, atol=1e-5)


def test_gate_formula_reproduces_softmax_and_sigmoid():
    _, run = make_run("softmax_topk")
    view = token_view(run.trace, 0, run.labels)
    g = gate_formula(view, "softmax_topk", 3)
    assert math.isclose(g["exp"] / g["sum_exp"], view.probs[3], rel_tol=1e-5)
    _, run = make_run("sigmoid_bias")
    view = token_view(run.trace, 0, run.labels)
    g = gate_formula(view, "sigmoid_bias", 1)
    assert math.isclose(1 / (1 + g["exp_neg"]), view.probs[1], rel_tol=1e-5)


def test_top_k_table_lists_slots_best_first():
    _, run = make_run("softmax_topk", top_k=3)
    view = token_view(run.trace, 1, run.labels)
    rows = top_k_table(view)
    assert [r["expert"] for r in rows] == view.slots.tolist()
    probs = [r["router_prob"] for r in rows]
    assert probs == sorted(probs, reverse=True)
    assert math.isclose(sum(r["weight"] for r in rows), 1.0, rel_tol=1e-5)  # renormalised, none dropped


def test_plain_mlp_shape_is_one_expert_output():
    layer, run = make_run()
    assert run.mlp_output_shape == tuple(layer.expert_forward(0, run.trace.input[:1]).shape[1:])


def test_compute_counts_match_trace_metrics():
    _, run = make_run("softmax_topk", top_k=2, num_experts=8)
    view = token_view(run.trace, 0, run.labels)
    counts = compute_counts(run, view)
    T = run.trace.num_tokens
    assert counts["token_sparse"] == 2 and counts["token_dense"] == 8
    assert counts["batch_sparse"] == run.trace.metrics["expert_rows"]
    assert counts["batch_dense"] == T * 8 == run.trace.metrics["dense_expert_rows"]
    assert counts["flops_dense"] > counts["flops_sparse"]


def test_load_summary_counts_demand_before_capacity():
    _, run = make_run("softmax_topk", top_k=2, capacity_factor=0.5)
    s = load_summary(run.trace)
    demand = expert_demand(run.trace)
    assert demand.sum() == run.trace.num_tokens * 2
    assert s["max_demand"] == demand.max() >= s["busiest_processed"]
    assert s["busiest_processed"] <= run.trace.capacity
    assert math.isclose(s["even_load"], run.trace.num_tokens * 2 / 8)


@pytest.mark.parametrize(("router", "top_k"), list(router_cases()))
def test_misreading_dense_is_same_all_vote_is_not(router, top_k):
    layer, run = make_run(router, top_k)
    view = token_view(run.trace, 4, run.labels)
    dense = run_dense(layer, run.trace.input)
    m = misreading(run, dense, view)
    assert m["dense_rows"] == run.trace.num_tokens * run.trace.num_experts
    assert m["sparse_rows"] == run.trace.metrics["expert_rows"] < m["dense_rows"]
    assert m["dense_max_abs_diff"] < 1e-5  # masking after running everything changes nothing
    probs = view.probs / view.probs.sum()
    x = run.trace.input[4:5]
    manual = sum(probs[e] * layer.expert_forward(e, x)[0].detach().double().numpy() for e in range(len(probs)))
    np.testing.assert_allclose(m["all_vote_output"], manual, rtol=1e-4, atol=1e-6)
    assert m["all_vote_rel_diff"] > 1e-3  # a different layer
    assert m["dense_experts"] == run.trace.num_experts


def test_answer_names_the_running_experts_and_weights():
    _, run = make_run("softmax_topk", top_k=2)
    view = token_view(run.trace, 0, run.labels)
    text = answer(view)
    assert "2 of 8 experts run" in text
    for e, w in zip(view.running, view.running_weights):
        assert f"expert **{int(e)}** (weight {w:.3f})" in text


def test_answer_explains_drops_and_escapes_the_token():
    _, run = make_run("softmax_topk", top_k=2, capacity_factor=0.5)
    dropped_tokens = torch.nonzero(run.trace.dropped.any(dim=1)).flatten().tolist()
    assert dropped_tokens, "capacity 0.5 must drop some slots"
    view = token_view(run.trace, dropped_tokens[0], run.labels)
    assert "dropped" in answer(view)
    hostile = view.__class__(**{**view.__dict__, "label": "[x](http://evil)"})
    assert "\\[x\\]\\(http\\:" in answer(hostile)


def test_answer_when_no_expert_runs():
    _, run = make_run("switch", top_k=1, capacity_factor=0.5)
    lost = torch.nonzero(run.trace.dropped.all(dim=1)).flatten().tolist()
    assert lost
    view = token_view(run.trace, lost[0], run.labels)
    assert "no expert runs" in answer(view)
    assert combine_terms(view) == [] and combine_check(view) < 1e-6


def test_router_certainty_matches_the_categorical_entropy():
    layer, run = make_run(num_experts=8)
    view = token_view(run.trace, 2, run.labels)
    c = router_certainty(view)
    reference = torch.distributions.Categorical(probs=torch.from_numpy(view.probs)).entropy() / math.log(8)
    assert c["entropy_share"] == pytest.approx(float(reference))
    assert c["largest_prob"] == pytest.approx(float(view.probs.max()))
    assert c["running"] == [int(e) for e in view.running]


def test_router_certainty_ends_evenly_unsure_and_certain():
    layer, run = make_run(num_experts=4)
    view = token_view(run.trace, 0, run.labels)
    even = router_certainty(dataclasses.replace(view, probs=np.full(4, 0.25)))
    sure = router_certainty(dataclasses.replace(view, probs=np.array([0.0, 1.0, 0.0, 0.0])))
    assert even["entropy_share"] == pytest.approx(1.0) and sure["entropy_share"] == pytest.approx(0.0)


def test_the_answer_says_no_expert_picked_a_token_under_expert_choice():
    layer, run = make_run(router="expert_choice", num_experts=8, capacity_factor=0.25)
    unpicked = [t for t in range(run.trace.num_tokens) if run.trace.dropped[t].all()]
    assert unpicked, "capacity 0.25 leaves some token unpicked"
    text = answer(token_view(run.trace, unpicked[0], run.labels))
    assert "no expert picked it" in text and "dropped" not in text


def test_the_answer_leaves_renormalisation_to_step_3():
    """Before: the answer box (shown from step 1 on) said "this router does not renormalise them" before softmax
    and the weights were explained; step 3, which explains them, says it with this token's own sum."""
    from moeviz.app.steps import _renormalised_note
    from moeviz.walkthrough import kept_weights_sum
    _, run = make_run("switch", top_k=1)
    view = token_view(run.trace, 0, run.labels)
    total = kept_weights_sum(run.trace, 0)
    assert total < 0.99 and not view.lost.tolist()  # Switch keeps the raw probability: a sum below 1
    assert "renormalis" not in answer(view)
    assert f"not renormalised: here they sum to {total:.2f}" in _renormalised_note(total)


def test_the_answer_says_what_a_weight_is_before_step_3():
    """The answer box is read first, before any step: its "(weight 0.18)" is said in plain words there."""
    _, run = make_run("softmax_topk", top_k=2)
    text = answer(token_view(run.trace, 0, run.labels))
    assert "A weight is how much that expert's output counts in the token's output (step 3)." in text
