"""Figures of the trained model's routing, tested on fig.data against the routing they draw."""
import numpy as np
import pytest

from moeviz.figures import PROB_RANGE
from moeviz.figures.heatmap import CODE_MARK, code_share_bars, heatmap_labels, layer_heatmap, layer_load_bars
from moeviz.lm import analysis
from moeviz.lm.model import LMConfig, TinyMoELM
from moeviz.lm.tokenizer import shipped_tokenizer

TEXT = "Prose <b>bold</b> here.\n   for i in x: pass\n"


@pytest.fixture(scope="module")
def routing():
    tokenizer = shipped_tokenizer()
    cfg = LMConfig(vocab_size=tokenizer.get_vocab_size(), context=32, d_model=16, n_heads=2, d_hidden=16,
                   num_experts=4, top_k=2, seed=1)
    model = TinyMoELM(cfg, capacity_factor=0.5).eval()
    return analysis.route_text(model, tokenizer, TEXT)


def by_name(fig, name):
    return next(trace for trace in fig.data if trace.name == name)


def test_heatmap_shows_each_layer_probs_on_a_fixed_scale(routing):
    for layer in range(routing.num_layers):
        fig = layer_heatmap(routing, layer)
        heat = by_name(fig, "router probability")
        np.testing.assert_allclose(np.array(heat.z), routing.traces[layer].router_probs.numpy(), atol=1e-6)
        assert (heat.zmin, heat.zmax) == PROB_RANGE
        assert f"Layer {layer}" in fig.layout.title.text


def test_outlines_cover_every_chosen_slot_kept_or_dropped(routing):
    fig = layer_heatmap(routing, 0)
    trace = routing.traces[0]
    kept, gone = by_name(fig, "top-k chosen"), by_name(fig, "chosen, dropped")
    squares = lambda s: sum(1 for v in s.x if v is None)
    assert squares(kept) == int((~trace.dropped).sum()) and squares(gone) == int(trace.dropped.sum())
    assert squares(gone) > 0  # capacity factor 0.5 forces drops


def test_labels_mark_code_tokens_and_are_escaped(routing):
    labels = heatmap_labels(routing)
    assert [label.startswith(CODE_MARK) for label in labels] == list(routing.is_code)
    ticks = layer_heatmap(routing, 0).layout.yaxis.ticktext
    assert not any("<b>" in tick for tick in ticks) and any("&lt;" in tick for tick in ticks)


def test_load_bars_have_the_capacity_line_and_drops(routing):
    fig = layer_load_bars(routing, 1)
    trace = routing.traces[1]
    np.testing.assert_array_equal(by_name(fig, "tokens processed").y, trace.tokens_per_expert.numpy())
    cap = next(t for t in fig.data if t.name.startswith("capacity"))
    assert list(cap.y) == [trace.capacity, trace.capacity]
    assert by_name(fig, "dropped (over capacity)").y.sum() == int(trace.dropped.sum())


def test_code_share_bars_one_group_per_layer_and_the_corpus_line():
    stats = {"corpus_code_share": 0.3, "layers": [
        {"experts": [{"expert": 0, "code_share": 0.1, "slots": 5}, {"expert": 1, "code_share": 0.7, "slots": 3}]},
        {"experts": [{"expert": 0, "code_share": 0.4, "slots": 4}, {"expert": 1, "code_share": 0.2, "slots": 4}]}]}
    fig = code_share_bars(stats)
    assert list(by_name(fig, "layer 0").y) == [0.1, 0.7] and list(by_name(fig, "layer 1").y) == [0.4, 0.2]
    corpus_line = next(t for t in fig.data if t.name.startswith("corpus"))
    assert list(corpus_line.y) == [0.3, 0.3]
    assert tuple(fig.layout.yaxis.range) == (0, 1)
