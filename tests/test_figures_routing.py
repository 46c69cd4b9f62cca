"""moeviz.figures.routing: the shared heatmap and load bars, checked on fig.data against the trace."""
import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from moeviz import MoEConfig, MoELayer
from moeviz.figures import BLUE, IDLE, PROB_RANGE
from moeviz.figures.routing import (EXPERT_PICKED, dropped_per_expert, expert_load_bars, load_bars, probs_heatmap,
                                    router_heatmap)
from tests.helpers import traced


def by_name(fig: go.Figure, name: str):
    matches = [trace for trace in fig.data if trace.name is not None and trace.name.startswith(name)]
    assert matches, f"no trace named {name!r} in {[t.name for t in fig.data]}"
    return matches[0]


def cells_outlined(trace) -> int:
    return sum(1 for x in trace.x if x is None)  # one None closes each square


@pytest.fixture(scope="module")
def trace():
    return traced(10, num_experts=6, top_k=2, capacity_factor=0.75, seed=1)


LABELS = [f"t{i}" for i in range(10)]


def test_heatmap_shows_router_probs_on_a_fixed_scale(trace):
    fig = router_heatmap(trace, LABELS)
    heat = by_name(fig, "router probability")
    np.testing.assert_allclose(np.asarray(heat.z), trace.router_probs.double().numpy())
    assert (heat.zmin, heat.zmax) == PROB_RANGE
    assert "%{z:.4f}" in heat.hovertemplate  # hover gives exact values
    assert list(fig.layout.yaxis.ticktext) == LABELS


def test_heatmap_outlines_kept_and_dropped_slots(trace):
    fig = router_heatmap(trace, LABELS)
    dropped = int(trace.dropped.sum())
    assert dropped > 0, "capacity 0.75 should drop some slots"
    assert cells_outlined(by_name(fig, "top-k chosen")) == trace.topk_indices.numel() - dropped
    assert cells_outlined(by_name(fig, "chosen, dropped")) == dropped


def test_outline_squares_sit_on_the_chosen_cells():
    probs = np.full((2, 3), 1 / 3)
    fig = probs_heatmap(probs, [[2], [0]], ["a", "b"])
    kept = by_name(fig, "top-k chosen")
    xs = [x for x in kept.x if x is not None]
    ys = [y for y in kept.y if y is not None]
    assert (min(xs[:5]), max(xs[:5]), min(ys[:5]), max(ys[:5])) == (1.5, 2.5, -0.5, 0.5)  # expert 2, token 0
    assert (min(xs[5:]), max(xs[5:]), min(ys[5:]), max(ys[5:])) == (-0.5, 0.5, 0.5, 1.5)  # expert 0, token 1


def test_token_labels_are_escaped_and_highlight_is_bold():
    fig = probs_heatmap(np.zeros((2, 2)), [[0], [1]], ["<a href='x'>hi</a>", "the"], highlight_token=1)
    ticks = list(fig.layout.yaxis.ticktext)
    assert "<a" not in ticks[0] and "&lt;a" in ticks[0]
    assert ticks[1] == "<b>the</b>"


def test_load_bars_split_processed_and_dropped(trace):
    fig = load_bars(trace)
    processed = np.asarray(by_name(fig, "tokens processed").y)
    drops = np.asarray(by_name(fig, "dropped").y)
    np.testing.assert_array_equal(processed, trace.tokens_per_expert.numpy())
    np.testing.assert_array_equal(drops, dropped_per_expert(trace))
    assert processed.sum() + drops.sum() == trace.topk_indices.numel()  # T * k slots in all
    assert list(by_name(fig, "capacity").y) == [trace.capacity] * 2
    assert by_name(fig, "even share").y[0] == pytest.approx(trace.topk_indices.numel() / 6)


def test_load_bars_label_every_bar_with_its_count(trace):
    fig = load_bars(trace)
    bars, lost = by_name(fig, "tokens processed"), by_name(fig, "dropped")
    assert list(bars.text) == [str(n) for n in trace.tokens_per_expert.tolist()]
    assert list(lost.text) == [f"+{d:.0f}" if d else "" for d in dropped_per_expert(trace)]
    # over-full experts carry two labels: the count goes inside its bar, the "+n" above the stack
    assert [p == "inside" for p in bars.textposition] == [d > 0 for d in dropped_per_expert(trace)]
    tallest = float((trace.tokens_per_expert.numpy() + dropped_per_expert(trace)).max())
    assert fig.layout.yaxis.range[1] > tallest  # room above the tallest stack for its label


def test_highlighted_load_bars_name_each_colour_in_the_legend(trace):
    fig = load_bars(trace, highlight_experts=[0, 3])
    mine, others = by_name(fig, "this token's experts"), by_name(fig, "other experts")
    assert (mine.marker.color, others.marker.color) == (BLUE, IDLE)
    assert list(mine.x) == [0, 3] and list(others.x) == [1, 2, 4, 5]
    load = trace.tokens_per_expert.numpy()
    assert list(mine.y) == list(load[[0, 3]]) and list(others.y) == list(load[[1, 2, 4, 5]])
    assert not any(t.name == "tokens processed" for t in fig.data)  # no legend entry covering both colours


def test_load_bars_without_capacity_or_drops():
    fig = expert_load_bars([3, 1, 0, 2])
    names = [t.name for t in fig.data]
    assert names == ["tokens processed"]
    assert fig.data[0].marker.color == BLUE  # nothing highlighted: all experts drawn alike
    assert list(fig.data[0].text) == ["3", "1", "0", "2"] and set(fig.data[0].textposition) == {"outside"}


def test_expert_choice_has_no_overflow_marks():
    layer = MoELayer(MoEConfig(num_experts=4, top_k=1, router="expert_choice", device="cpu")).eval()
    with torch.inference_mode():
        _, trace = layer(torch.randn(6, layer.cfg.d_model))
    assert dropped_per_expert(trace).sum() == 0
    heat = router_heatmap(trace, [str(i) for i in range(6)])
    picked = int((~trace.dropped).sum())
    assert 0 < picked < trace.dropped.numel()  # some cells unpicked: the case the rule is about
    assert cells_outlined(by_name(heat, EXPERT_PICKED)) == picked  # outlines = experts that picked each token
    # The unpicked cells were never chosen: none is outlined as "chosen, dropped" (the walkthrough's step 5
    # drew every one of them so, beside a caption saying 0 % of slots were dropped).
    lost = by_name(heat, "chosen, dropped")
    assert len(lost.x) == 0 and not lost.showlegend
    assert not any(t.name == "top-k chosen" for t in heat.data)  # the experts choose: the legend says so


def test_load_bars_of_many_experts_name_at_most_sixteen_and_print_no_counts():
    """32 experts: names and counts ran into each other at 390 px; the hover keeps every count."""
    from moeviz.figures.routing import MAX_LABELLED_BARS, expert_load_bars
    load = np.arange(32.0)
    fig = expert_load_bars(load, capacity=20, dropped_per_expert=np.maximum(load - 20, 0))
    assert len(fig.layout.xaxis.ticktext) <= MAX_LABELLED_BARS and fig.layout.xaxis.ticktext[0] == "E0"
    assert all(bar.text is None for bar in fig.data if isinstance(bar, go.Bar))
    few = expert_load_bars(np.arange(8.0))
    assert list(few.layout.xaxis.ticktext) == [f"E{e}" for e in range(8)]
    assert [t for bar in few.data for t in bar.text] == [f"{v:.0f}" for v in range(8)]


def test_a_heatmap_scaled_to_its_data_says_its_top_on_the_colorbar():
    """Step 5's heatmap: on the fixed 0..1 scale a chosen expert's 0.3 looked pale; scaled to the data the
    largest probability is the darkest colour, and the colorbar says the scale."""
    probs = torch.tensor([[0.1, 0.3, 0.6], [0.2, 0.5, 0.3]])
    chosen = torch.tensor([[2], [1]])
    fixed = next(t for t in probs_heatmap(probs, chosen, ["a", "b"]).data if t.type == "heatmap")
    scaled = next(t for t in probs_heatmap(probs, chosen, ["a", "b"], scale_to_data=True).data if t.type == "heatmap")
    assert (fixed.zmin, fixed.zmax) == PROB_RANGE and fixed.colorbar.title.text == "prob"
    assert scaled.zmin == 0 and scaled.zmax == pytest.approx(0.6)
    assert scaled.colorbar.title.text == "prob (0 to 0.60, the largest here)"
