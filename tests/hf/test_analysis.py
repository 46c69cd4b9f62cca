"""Cross-layer views of a checkpoint routing, against naive per-token loops."""
import math

import pytest
import torch
from torch.testing import assert_close

from moeviz.hf import analysis

TEXT = "def route(x):\n    return x  # The router sends each token to two experts. <p>Done</p>"


@pytest.fixture(scope="module")
def routing(tiny_models):
    return tiny_models["deepseek_v3"].route(TEXT)


def test_layer_loads_count_slots(routing):
    loads = analysis.layer_loads(routing)
    for row, trace in zip(loads, routing.traces):
        naive = torch.zeros(trace.num_experts)
        for experts in trace.topk_indices.tolist():
            for e in experts:
                naive[e] += 1
        assert_close(row, naive / naive.sum())
    assert len(analysis.layer_summary(routing)) == len(routing.traces)


def test_journey_and_co_selection(routing):
    j = analysis.journey(routing)
    assert j.shape == (len(routing.token_ids), len(routing.traces), routing.traces[0].top_k)
    counts = analysis.co_selection(routing, 0, 1)
    naive = torch.zeros_like(counts)
    for t in range(j.shape[0]):
        naive[j[t, 0, 0], j[t, 1, 0]] += 1
    assert_close(counts, naive, rtol=0, atol=0)
    rows = analysis.consecutive_agreement(routing)
    assert len(rows) == len(routing.traces) - 1
    assert rows[0]["mutual information"] == round(analysis.mutual_information(naive), 3) <= rows[0]["ceiling ln N"]


def test_mutual_information_bounds():
    independent = torch.ones(4, 4, dtype=torch.long)
    assert analysis.mutual_information(independent) == pytest.approx(0.0, abs=1e-12)
    determined = torch.eye(4, dtype=torch.long) * 5
    assert analysis.mutual_information(determined) == pytest.approx(math.log(4))


def test_expert_tokens_are_those_that_ran_on_it(routing):
    trace = routing.traces[1]
    expert = int(trace.topk_indices[0, 0])
    rows = analysis.expert_tokens(routing, 1, expert, limit=100)
    ran = [t for t in range(trace.num_tokens) if expert in trace.topk_indices[t].tolist()]
    assert sorted(r["position"] for r in rows) == ran
    probs = [r["probability"] for r in rows]
    assert probs == sorted(probs, reverse=True) and rows[0]["token"] == routing.tokens[rows[0]["position"]]


def test_expert_lift_matches_a_naive_count(routing):
    text_routing = routing
    for trace_index, trace in enumerate(text_routing.traces):
        for expert in range(trace.num_experts):
            rows = analysis.expert_lift(text_routing, trace_index, expert, min_count=2, limit=100)
            ran = [any(int(e) == expert and not bool(d) for e, d in zip(trace.topk_indices[t], trace.dropped[t]))
                   for t in range(trace.num_tokens)]
            base = sum(ran) / len(ran)
            for row in rows:
                positions = [t for t, label in enumerate(text_routing.tokens) if label == row["token"]]
                n, c = len(positions), sum(ran[t] for t in positions)
                assert (row["in text"], row["to this expert"]) == (n, c)
                assert n >= 2 and c >= 1
                assert math.isclose(row["lift"], ((c + base) / (n + 1)) / base, abs_tol=1e-3)
            assert [r["lift"] for r in rows] == sorted((r["lift"] for r in rows), reverse=True)
