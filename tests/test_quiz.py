"""Quiz questions: every answer re-derived by a naive formula or the dense reference, not by the quiz itself."""
import math

import pytest
import torch
from torch.testing import assert_close

from moeviz import MoELayer
from moeviz.quiz import NO, NONE, QUESTION_KINDS, WEIGHT_TOLERANCE, is_blank, is_correct, make_question

SEEDS = range(0, 60, 3)


def questions(kind):
    return [make_question(seed, kind) for seed in SEEDS[:8]]


def naive_logits(q):
    layer = MoELayer(q.cfg)
    return q.x @ layer.router.weight.detach().t()


def naive_softmax(row):
    exps = [math.exp(v) for v in row]
    return [e / sum(exps) for e in exps]


def test_seeded_questions_repeat_and_vary():
    a, b = make_question(11), make_question(11)
    assert (a.kind, a.prompt, a.answer, a.explanation) == (b.kind, b.prompt, b.answer, b.explanation)
    assert len({make_question(s).prompt for s in SEEDS}) > len(SEEDS) // 2
    assert {make_question(s).kind for s in range(40)} == set(QUESTION_KINDS)  # every kind comes up
    with pytest.raises(ValueError, match="unknown question kind"):
        make_question(1, "nonsense")


@pytest.mark.parametrize("q", questions("which_experts"), ids=lambda q: f"seed{q.seed}")
def test_which_experts_is_the_top_k_of_the_logits(q):
    row = naive_logits(q)[q.token].tolist()
    probs = naive_softmax(row)
    k = q.cfg.top_k
    ranked = sorted(range(len(probs)), key=lambda e: -probs[e])
    assert q.answer == tuple(sorted(ranked[:k]))
    assert q.shown["logits"] == [round(v, 2) for v in row]
    shown = q.shown["logits"]
    assert sorted(shown, reverse=True)[k - 1] > sorted(shown, reverse=True)[k]  # unambiguous at 2 decimals
    assert is_correct(q, list(reversed(q.answer)))
    assert not is_correct(q, ranked[1:k + 1])


@pytest.mark.parametrize("q", questions("combine_weights"), ids=lambda q: f"seed{q.seed}")
def test_combine_weight_is_the_formula(q):
    probs = naive_softmax(naive_logits(q)[q.token].tolist())
    kept = sorted(probs, reverse=True)[: q.cfg.top_k]
    expected = kept[0] / sum(kept) if q.cfg.norm_topk_prob else kept[0]
    assert q.shown["expert"] == max(range(len(probs)), key=lambda e: probs[e])
    assert q.shown["normalised"] == q.cfg.norm_topk_prob
    top_k = sorted(range(len(probs)), key=lambda e: -probs[e])[: q.cfg.top_k]
    assert q.shown["kept"] == top_k  # what the reveal lights up: every expert in the sum
    assert math.isclose(q.answer, expected, rel_tol=1e-5)
    assert is_correct(q, round(expected, 2))
    assert not is_correct(q, expected + 2 * WEIGHT_TOLERANCE)
    assert not is_correct(q, float("nan")) and not is_correct(q, None)


@pytest.mark.parametrize("q", questions("overflow"), ids=lambda q: f"seed{q.seed}")
def test_overflow_is_a_naive_count_over_capacity(q):
    T, E = q.x.shape[0], q.cfg.num_experts
    logits = naive_logits(q)
    first = [max(range(E), key=lambda e: logits[t, e].item()) for t in range(T)]
    assert q.shown["first_choices"] == first
    C = math.ceil(q.cfg.capacity_factor * T / E)
    assert q.shown["capacity"] == C
    overflowing = tuple(e for e in range(E) if first.count(e) > C)
    assert q.answer == overflowing
    assert NONE in q.options  # "none" can be picked, and is right exactly when nothing overflows
    assert is_correct(q, list(overflowing) or [NONE])
    assert not is_correct(q, list(overflowing) + [e for e in range(E) if e not in overflowing][:1]) \
        or len(overflowing) == E
    assert not is_correct(q, [NONE, *range(E)])  # "none" with experts contradicts itself
    assert is_blank(q, []) and not is_correct(q, [])  # picking nothing is no prediction, not the answer "none"


def test_some_overflow_questions_have_an_overflow():
    assert any(make_question(s, "overflow").answer for s in range(10))


@pytest.mark.parametrize("q", [make_question(s, "every_expert") for s in range(12)], ids=lambda q: f"seed{q.seed}")
def test_every_expert_trap_against_the_dense_reference(q):
    T, k, E = q.x.shape[0], q.cfg.top_k, q.cfg.num_experts
    if q.options == (q.options[0], NO):  # the "does every expert vote?" form
        assert q.answer == NO and is_correct(q, NO) and not is_correct(q, q.options[0])
        layer = MoELayer(q.cfg).eval()
        with torch.inference_mode():
            y_dense, trace = layer.dense_forward(q.x)
            t = q.token
            chosen = trace.topk_indices[t].tolist()
            only_chosen = sum(w * layer.expert_forward(e, q.x[t:t + 1])[0]
                              for e, w in zip(chosen, trace.topk_weights[t].tolist()))
            probs = torch.softmax(trace.router_logits[t], -1)
            all_vote = sum(probs[e] * layer.expert_forward(e, q.x[t:t + 1])[0] for e in range(E))
        assert_close(y_dense[t], only_chosen)  # the output is the k chosen experts' sum ...
        assert not torch.allclose(y_dense[t], all_vote, atol=1e-4)  # ... not everyone's vote
        assert len(chosen) == k < E
    else:
        assert q.answer == str(T * k)
        assert is_correct(q, str(T * k)) and not is_correct(q, str(T * E))
        assert str(T * E) in q.options and len(set(q.options)) == len(q.options)


ORIGINAL_KINDS = ("which_experts", "combine_weights", "overflow", "every_expert")  # as first shipped


def test_old_question_numbers_keep_their_questions():
    """A number with no kind draws its kind as before the later kinds existed, from the same random stream."""
    import random
    from moeviz.quiz import ALL_KINDS, LATER_KINDS
    assert QUESTION_KINDS == ORIGINAL_KINDS and ALL_KINDS == ORIGINAL_KINDS + LATER_KINDS
    for seed in range(1, 30):
        q = make_question(seed)
        assert q.kind == random.Random(seed).choice(ORIGINAL_KINDS)
        assert q.prompt == make_question(seed, q.kind).prompt


@pytest.mark.parametrize("seed", [1, 4, 9, 16])
def test_alone_vs_batch_answer_is_a_naive_expert_choice_of_one_token(seed):
    q = make_question(seed, "alone_vs_batch")
    E, k, T = q.cfg.num_experts, q.cfg.top_k, q.x.shape[0]
    probs = torch.softmax(naive_logits(q), dim=-1)
    C = math.ceil(T * k / E)
    picked_by = [set(probs[:, e].topk(C).indices.tolist()) for e in range(E)]
    assert q.shown["in_batch"] == sum(q.token in p for p in picked_by)
    assert q.shown["capacity_alone"] == 1 and q.answer == str(E)  # alone: each expert's one slot takes it
    assert is_correct(q, str(E)) and not is_correct(q, str(k) if k != E else "0")


@pytest.mark.parametrize("q", questions("combine_weights"), ids=lambda q: f"seed{q.seed}")
def test_the_combine_weight_question_links_the_glossary_and_says_what_it_is(q):
    """The question asked for "the combine weight" with no definition: it links the glossary's entry and says in
    one clause what the weight is."""
    from moeviz.glossary import glossary_link
    assert glossary_link("Combine weight") in q.prompt
    assert "the weight its output gets in the token's output" in q.prompt


def test_the_weight_question_says_how_close_counts_as_right():
    """A reader could not tell how close a typed weight must be: the question says the tolerance the check uses."""
    from moeviz.quiz import WEIGHT_TOLERANCE, is_correct, make_question
    question = make_question(1, "combine_weights")
    assert f"within {WEIGHT_TOLERANCE:g} counts as right" in question.prompt
    assert is_correct(question, float(question.answer) + 0.9 * WEIGHT_TOLERANCE)
    assert not is_correct(question, float(question.answer) + 1.5 * WEIGHT_TOLERANCE)
