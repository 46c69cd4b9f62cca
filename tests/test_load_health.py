"""The glossary's "failing" load line applied to real routing, and the chance yardstick against a naive loop."""
import random

import pytest

from moeviz.glossary import FAILING_MAX_MEAN_LOAD, HEALTH_SIGNALS, LOAD_RATIO
from moeviz.load_health import chance_max_mean, crowded_layers


@pytest.fixture(scope="module")
def heatmap_default():
    """olmoe-tiny on /heatmap's default text, as the page routes it."""
    from moeviz.app.heatmap_text import DEFAULT_TEXT
    from moeviz.hf.folders import SHIPPED_DIR
    from moeviz.hf.model import load_checkpoint
    return load_checkpoint(SHIPPED_DIR / "olmoe-tiny", device="cpu").route(DEFAULT_TEXT)


def test_the_glossary_states_the_threshold_it_defines():
    tokens_row = next(row for row in HEALTH_SIGNALS if row[0] == "Tokens per expert")
    assert f"{LOAD_RATIO} of {FAILING_MAX_MEAN_LOAD:g} or more" in tokens_row[2]


def test_crowded_layers_are_those_whose_own_load_reaches_the_line(heatmap_default):
    routing = heatmap_default
    loads = {}
    for layer, trace in zip(routing.layers, routing.traces):
        counts = trace.tokens_per_expert.float()
        loads[layer] = float(counts.max() / counts.mean())  # max/mean from the counts, not the metric
    expected = [layer for layer, value in loads.items() if value >= FAILING_MAX_MEAN_LOAD]
    found = crowded_layers(routing.layers, routing.traces)
    assert [layer for layer, _ in found] == expected and expected  # the default text crosses it somewhere
    assert [value for _, value in found] == pytest.approx([loads[layer] for layer in expected])


def naive_chance(T, k, N, draws, seed):
    """The same yardstick with Python's own random module: k distinct experts per token, uniform."""
    rng, total = random.Random(seed), 0.0
    for _ in range(draws):
        load = [0] * N
        for _ in range(T):
            for e in rng.sample(range(N), k):
                load[e] += 1
        total += max(load) / (sum(load) / N)
    return total / draws


@pytest.mark.parametrize("T, k, N", [(33, 2, 8), (8, 1, 4), (200, 2, 16)])
def test_chance_max_mean_agrees_with_a_naive_loop(T, k, N):
    assert chance_max_mean(T, k, N) == pytest.approx(naive_chance(T, k, N, 2000, 1), rel=0.03)


def test_chance_falls_towards_one_as_the_text_grows():
    assert chance_max_mean(20, 2, 8) > chance_max_mean(200, 2, 8) > chance_max_mean(2000, 2, 8) > 1
