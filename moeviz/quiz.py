"""Predict-then-reveal questions generated from real MoE layer runs; a seed makes each one reproducible.

    q = make_question(seed)                  # or make_question(seed, kind="overflow")
    q.prompt, q.shown, q.answer_type, q.options    # what the page shows and which widget it needs
    is_correct(q, response), q.explanation   # checking and the reveal

Kinds (QUESTION_KINDS): which experts run for this k; what the combine weight is; which experts overflow at a
capacity; and the misreading trap from the seeds (does every expert vote? how many expert computations?).
LATER_KINDS came after question numbers were shared: a number with no kind given still draws from
QUESTION_KINDS, so an old link gives the same question; a later kind is asked for by name (the quiz page
cycles through the kinds a learner picked). ALL_KINDS = both.
Every answer is read from the layer's RoutingTrace, never worked out by the quiz itself. Pure: no streamlit.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch

from moeviz.config import MoEConfig
from moeviz.glossary import glossary_link
from moeviz.layer import MoELayer
from moeviz.text import random_vectors
from moeviz.trace import RoutingTrace
from moeviz.walkthrough import token_view

QUESTION_KINDS = ("which_experts", "combine_weights", "overflow", "every_expert")  # drawn from a bare number
LATER_KINDS = ("alone_vs_batch",)  # only when asked for: drawing them would renumber the old questions
ALL_KINDS = QUESTION_KINDS + LATER_KINDS
KIND_LABELS = {"which_experts": "Which experts run?", "combine_weights": "What is the combine weight?",
               "overflow": "Which expert overflows?", "every_expert": "Does every expert vote?",
               "alone_vs_batch": "Alone or in a batch?"}
D_MODEL, D_HIDDEN = 16, 32  # small: a question builds its own layer and must appear instantly
WEIGHT_TOLERANCE = 0.01  # a typed weight within this of the layer's counts as right
NO = "No: only the k chosen experts compute it; the others contribute exactly nothing"
YES = "Yes: every expert computes it and votes, weighted by its router probability"
NONE = -1  # the "none" option of an experts question: an answer, unlike picking nothing (a blank reveal)


@dataclass(frozen=True)
class Question:
    seed: int
    kind: str
    prompt: str  # Markdown, our own words and numbers only
    shown: dict  # the numbers the learner gets: "logits"/"probs" (E,), "first_choices" (T,), "capacity", ...
    answer_type: str  # "experts" (pick a set of expert ids), "number", or "choice" (one of `options`)
    options: tuple  # expert ids (and NONE where "none" can be right) for "experts", the choices for "choice"
    answer: object  # tuple of expert ids, a float, or one of options
    explanation: str  # Markdown: why, with the layer's numbers
    cfg: MoEConfig  # the layer the answer came from (rebuild it with MoELayer(cfg))
    x: torch.Tensor  # (T, D_MODEL) its input
    token: int  # the token the question is about (-1 when about the whole batch)


def _run(cfg: MoEConfig, x: torch.Tensor) -> RoutingTrace:
    with torch.inference_mode():
        return MoELayer(cfg).eval()(x)[1]


def _layer(rng: random.Random, seed: int, router: str, num_tokens: int, **fields):
    cfg = MoEConfig(d_model=D_MODEL, d_hidden=D_HIDDEN, router=router, seed=rng.randrange(10**6), device="cpu",
                    **fields)
    x = random_vectors(num_tokens, D_MODEL, seed)
    return cfg, x, _run(cfg, x)


def _list(values, digits: int) -> list[float]:
    return [round(float(v), digits) for v in values]


def _experts(ids) -> str:
    return ", ".join(f"E{int(e)}" for e in sorted(int(e) for e in ids)) or "none"


def _which_experts(seed: int, rng: random.Random) -> Question:
    E = rng.choice((4, 6, 8))
    k = rng.randint(1, min(3, E - 1))
    cfg, x, trace = _layer(rng, seed, "softmax_topk", 6, num_experts=E, top_k=k)
    sorted_logits = trace.router_logits.sort(dim=-1, descending=True).values
    gaps = sorted_logits[:, k - 1] - sorted_logits[:, k]
    t = int(gaps.argmax())  # the token whose top-k is clearest at two decimals
    view = token_view(trace, t)
    chosen = tuple(sorted(int(e) for e in view.slots))
    return Question(
        seed, "which_experts",
        f"A token's {glossary_link('Router', 'router')} logits over **{E} experts** are below. The router is softmax → top-k with "
        f"**k = {k}**. Which experts will run for this token?",
        {"logits": _list(view.logits, 2), "probs": _list(view.probs, 3)},
        "experts", tuple(range(E)), chosen,
        f"The layer ran {_experts(chosen)}. Softmax never changes the order of the scores, so the k largest "
        f"logits are the k largest probabilities; the other {E - k} experts stay idle for this token. "
        f"Probabilities: {', '.join(f'E{e} {p:.3f}' for e, p in enumerate(_list(view.probs, 3)))}.",
        cfg, x, t)


def _combine_weights(seed: int, rng: random.Random) -> Question:
    E, k, norm = rng.choice((4, 6, 8)), rng.randint(2, 3), rng.random() < 0.5
    cfg, x, trace = _layer(rng, seed, "softmax_topk", 4, num_experts=E, top_k=k, norm_topk_prob=norm)
    t = rng.randrange(trace.num_tokens)
    view = token_view(trace, t)
    top, weight = int(view.slots[0]), float(view.weights[0])
    kept = [float(view.probs[e]) for e in view.slots]
    # plain words on screen: the config flag's name (norm_topk_prob) means nothing to a learner
    rule = ("**renormalises** the k kept probabilities to sum to 1, as the open MoE model Mixtral (Mistral AI) "
            "does (the walkthrough's olmoe-tiny does not: its weights sum to less than 1)" if norm else
            "uses the kept probabilities **as they are**, without renormalising them, as the open MoE models "
            "Qwen1.5/2-MoE (Alibaba) and OLMoE (AI2) do, and so the walkthrough's olmoe-tiny")
    named = ", ".join(f"E{int(e)} ({p:.3f})" for e, p in zip(view.slots, kept))
    why = (f"{kept[0]:.3f} / ({' + '.join(f'{p:.3f}' for p in kept)}) = {weight:.3f}" if norm else
           f"the probability itself, {kept[0]:.3f}; the {k} weights sum to {sum(kept):.3f}, not 1")
    why = f"the k = {k} kept experts are the {k} largest probabilities, {named}; E{top}'s weight is {why}"
    return Question(
        seed, "combine_weights",
        f"{glossary_link('Router', 'Router')} probabilities of one token over **{E} experts** are below; "
        f"**k = {k}** ({glossary_link('Top-k', 'top-k')}: the k highest run). This router {rule}. "
        f"What {glossary_link('Combine weight')} (the weight its output gets in the token's output) does the "
        f"top expert, **E{top}**, get? (two decimals are enough: within {WEIGHT_TOLERANCE:g} counts as right)",
        {"probs": _list(view.probs, 3), "expert": top, "normalised": norm, "kept": view.slots.tolist()},
        "number", (), weight,
        f"The layer used weight **{weight:.3f}** for E{top}: {why}.", cfg, x, t)


def _overflow(seed: int, rng: random.Random) -> Question:
    E, T = rng.choice((3, 4)), rng.choice((8, 10, 12))
    cf = rng.choice((0.5, 0.75, 1.0))
    cfg, x, trace = _layer(rng, seed, "switch", T, num_experts=E, top_k=1, capacity_factor=cf)
    first = [int(e) for e in trace.topk_indices[:, 0]]
    over = tuple(sorted({first[t] for t in range(T) if bool(trace.dropped[t, 0])}))
    counts = [first.count(e) for e in range(E)]
    return Question(
        seed, "overflow",
        f"Switch routing (top-1) over **{E} experts** with capacity factor {cf:g}: each expert holds "
        f"**C = ceil({cf:g} · {T} · 1 / {E}) = {trace.capacity}** tokens. The {T} tokens' chosen experts, in "
        f"order, are below. Which experts overflow (turn at least one token away)? Pick “none” if none does.",
        {"first_choices": first, "capacity": trace.capacity},
        "experts", tuple(range(E)) + (NONE,), over,
        f"Requests per expert: {', '.join(f'E{e} {n}' for e, n in enumerate(counts))}; capacity {trace.capacity}. "
        f"Overflowing: {_experts(over)}. The layer dropped {int(trace.dropped.sum())} of {T} tokens (the latest "
        f"ones in each full expert); a dropped token skips the layer and only the residual carries it on.",
        cfg, x, -1)


def _every_expert(seed: int, rng: random.Random) -> Question:
    E = rng.choice((8, 16, 32))
    k, T = rng.choice((1, 2)), rng.choice((6, 10, 16))
    cfg, x, trace = _layer(rng, seed, "softmax_topk", T, num_experts=E, top_k=k)
    rows = int(trace.metrics["expert_rows"])
    if rng.random() < 0.5:
        return Question(
            seed, "every_expert",
            f"A layer with **{E} experts** and **k = {k}** processes one token. Does every expert contribute "
            f"to this token's output?", {}, "choice", (YES, NO), NO,
            f"Only {k} of {E} experts ran for it ({_experts(trace.topk_indices[0])} for the first token); the output "
            f"is their weighted sum. Reading MoE as every expert voting is the common misreading: that would "
            f"cost {E} expert computations per token instead of {k}, and give a different output.",
            cfg, x, 0)
    options = tuple(dict.fromkeys(str(n) for n in (k, E, T, T * k, T * E)))
    return Question(
        seed, "every_expert",
        f"A sentence of **{T} tokens** goes through a layer with **{E} experts** and **k = {k}** (no capacity "
        f"limit). How many expert computations (one expert on one token) does the layer run?",
        {}, "choice", options, str(rows),
        f"The layer ran **{rows}** = {T} tokens × k = {k}. Running every expert would be {T} × {E} = {T * E}: "
        f"{E // k}× the work, for an output the router masks away anyway.", cfg, x, -1)


def _alone_vs_batch(seed: int, rng: random.Random) -> Question:
    """Expert choice at decode: a batch of one token. Every expert has C >= 1 slot and only that token to pick."""
    E, k, T = rng.choice((4, 6, 8)), rng.randint(1, 2), rng.choice((8, 12, 16))
    cfg, x, batch = _layer(rng, seed, "expert_choice", T, num_experts=E, top_k=k)
    t = rng.randrange(T)
    with torch.inference_mode():
        alone = MoELayer(cfg).eval()(x[t:t + 1])[1]
    in_batch = int((~batch.dropped[t]).sum())
    answer = int((~alone.dropped[0]).sum())
    options = tuple(dict.fromkeys(str(n) for n in (0, 1, k, E)))
    return Question(
        seed, "alone_vs_batch",
        f"An **expert-choice** layer with **{E} experts** (capacity factor 1, so on average k = {k} experts per "
        f"token) routes a prompt of {T} tokens at once; token {t} got **{in_batch}** experts there. Now the same "
        f"token is decoded **alone**, as a batch of one token. How many experts process it?",
        {"in_batch": in_batch, "capacity_in_batch": batch.capacity, "capacity_alone": alone.capacity},
        "choice", options, str(answer),
        f"Alone it got **{answer}** experts. Each expert keeps C = ceil(1 · T · k / N) tokens: "
        f"ceil({T} · {k} / {E}) = {batch.capacity} in the prompt, but ceil(1 · {k} / {E}) = {alone.capacity} "
        f"alone, and the only token there is this one, so every expert picks it. Expert choice makes a token's "
        f"experts depend on the rest of its batch; token-choice top-k without a capacity limit would give "
        f"it the same k experts either way.", cfg, x, t)


_MAKERS = {"which_experts": _which_experts, "combine_weights": _combine_weights, "overflow": _overflow,
           "every_expert": _every_expert, "alone_vs_batch": _alone_vs_batch}


def make_question(seed: int, kind: str | None = None) -> Question:
    """The question numbered `seed` (its kind drawn from the seed unless given). Same seed, same question."""
    rng = random.Random(int(seed))
    drawn = rng.choice(QUESTION_KINDS)
    kind = kind or drawn
    if kind not in _MAKERS:
        raise ValueError(f"unknown question kind {kind!r}; choose one of {', '.join(ALL_KINDS)}.")
    return _MAKERS[kind](int(seed), rng)


def is_blank(question: Question, response) -> bool:
    """Whether the learner predicted nothing: no number, no option, no expert (picking "none" is an answer)."""
    return response is None or (question.answer_type == "experts" and not list(response))


def is_correct(question: Question, response) -> bool:
    """Whether `response` (a set of expert ids, possibly just NONE; a number; an option) is the layer's answer."""
    if is_blank(question, response):
        return False
    if question.answer_type == "experts":
        picked = {int(e) for e in response}
        if NONE in picked:
            return picked == {NONE} and not question.answer  # "none" together with an expert contradicts itself
        return tuple(sorted(picked)) == tuple(question.answer)
    if question.answer_type == "number":
        value = float(response)
        return math.isfinite(value) and abs(value - float(question.answer)) <= WEIGHT_TOLERANCE
    return response == question.answer


__all__ = ["QUESTION_KINDS", "LATER_KINDS", "ALL_KINDS", "KIND_LABELS", "NONE", "Question", "make_question", "is_blank", "is_correct",
           "WEIGHT_TOLERANCE"]
