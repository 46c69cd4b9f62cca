"""moeviz.figures.walkthrough: the six steps' figures, checked on fig.data."""
import numpy as np
import pytest
import torch

from moeviz.figures import BLUE, IDLE, VERMILLION
from moeviz.figures.walkthrough import (EXPERT_STATES, RESIDUAL, TOPK_NAMES, block_diagram, combine_figure,
                                        compute_bars, expert_grid, misreading_figure, output_range, score_bars,
                                        topk_bars, vector_strips)
from moeviz.walkthrough import token_view
from tests.helpers import make_layer, tokens


def test_vector_strips_draw_each_row_on_a_scale_centred_on_zero():
    rows = np.array([[1.0, -2.0, 0.5], [0.0, 0.25, -0.5]])
    fig = vector_strips(rows, ["a", "b"])
    heat = fig.data[0]
    np.testing.assert_allclose(np.asarray(heat.z), rows)
    assert (heat.zmin, heat.zmid, heat.zmax) == (-2.0, 0, 2.0)
    assert list(fig.layout.yaxis.ticktext) == ["a", "b"]


def test_block_diagram_puts_the_moe_where_the_mlp_was():
    parts = list(block_diagram().data[0].text)
    assert parts.index("attention") < parts.index("MoE layer") < parts.index("token out")


def test_block_diagram_boxes_are_as_wide_as_their_labels():
    """At 390 px the one-line labels ran into each other: each box now fits its longest label line."""
    fig = block_diagram()
    boxes = [s for s in fig.layout.shapes if s.type == "rect"]
    labels = [a for a in fig.layout.annotations if a.text and "RMS" in a.text or a.text and "MoE" in a.text]
    longest = max(len(line) for a in labels for line in a.text.replace("<b>", "").replace("</b>", "").split("<br>"))
    assert min(b.x1 - b.x0 for b in boxes) >= 4 and longest <= 6  # box widths count label characters
    parts = [s for s in fig.layout.shapes if s.type != "path"]  # the boxes and circles, not the skip paths
    lefts = sorted(b.x0 for b in parts)
    rights = sorted(b.x1 for b in parts)
    assert all(r < l for r, l in zip(rights, lefts[1:]))  # no two parts overlap


def test_block_diagram_draws_both_residual_paths_into_the_adds():
    """Step 1's text names the residual path: the figure draws it, around attention and around the MoE layer,
    each path leaving before the sub-layer's RMSNorm and coming down into the "+" that adds the sub-layer's output."""
    fig = block_diagram()
    names, centres = list(fig.data[0].text), list(fig.data[0].x)
    paths = [s for s in fig.layout.shapes if s.type == "path" and s.name == RESIDUAL]
    assert len(paths) == 2
    plus = [centres[i] for i, name in enumerate(names) if name == "+"]
    around = []
    for path, add in zip(paths, plus):
        points = [tuple(map(float, p.split(","))) for p in path.path.replace("M ", "").split(" L ")]
        (x_start, y_start), (x_end, y_end) = points[0], points[-1]
        assert y_start == 0 and max(y for _, y in points) > 0.5  # from the main line, up above the boxes
        assert x_end == pytest.approx(add) and 0.2 <= y_end <= 0.5  # down to just above its "+"
        around.append([n for n, c in zip(names, centres) if x_start < c < x_end])
    assert around == [["RMSNorm", "attention"], ["RMSNorm", "MoE layer"]]
    heads = [a for a in fig.layout.annotations if a.showarrow and a.ax == a.x and a.ay > a.y]  # pointing down
    assert sorted(a.x for a in heads) == pytest.approx(plus) and all(a.y <= 0.2 for a in heads)
    assert sum(RESIDUAL in (a.text or "") for a in fig.layout.annotations) == 2  # each path is labelled


def test_score_bars_highlight_some_experts():
    fig = score_bars([0.1, 0.5, 0.4], name="p", title=None, highlight=[1])
    assert list(fig.data[0].y) == [0.1, 0.5, 0.4]
    assert list(fig.data[0].marker.color) == [IDLE, BLUE, IDLE]


def test_topk_bars_light_the_chosen_and_mark_drops():
    probs = [0.1, 0.4, 0.3, 0.2]
    fig = topk_bars(probs, slots=[1, 2], dropped=[False, True], weights=[0.57, 0.0])
    t = {trace.name: trace for trace in fig.data}
    kept, masked, lost, weight = (t[name] for name in TOPK_NAMES)
    assert (list(kept.x), list(lost.x), sorted(masked.x)) == ([1], [2], [0, 3])
    assert (kept.marker.color, lost.marker.color, masked.marker.color) == (BLUE, VERMILLION, IDLE)
    assert list(weight.x) == [1] and list(weight.y) == [0.57]


def test_every_topk_bar_is_labelled_with_its_own_height():
    """Step 3 wrote "w = 0.52" over a bar 0.20 high: a label must be the number the bar's height shows."""
    layer = make_layer(num_experts=8, top_k=2)
    with torch.inference_mode():
        trace = layer(tokens(6))[1]
    view = token_view(trace, 3, [str(i) for i in range(6)])
    fig = topk_bars(view.probs, view.slots, view.dropped, view.weights)
    for bar in fig.data:
        for height, label in zip(bar.y, bar.text):
            assert label in ("", f"{height:.2f}"), (bar.name, height, label)
    t = {trace.name: trace for trace in fig.data}
    np.testing.assert_allclose(t["kept: router probability"].y, view.probs[view.slots[~view.dropped]])
    np.testing.assert_allclose(t["combine weight"].y, view.weights[~view.dropped])  # beside its probability
    assert list(t["combine weight"].x) == list(t["kept: router probability"].x)
    assert fig.layout.yaxis.range[1] > max(max(bar.y) for bar in fig.data)  # room for the labels


def test_a_combine_weight_equal_to_its_probability_is_not_labelled_twice():
    """A router that keeps the raw probabilities (olmoe-tiny, the default) drew "0.16" twice side by side, which
    ran together into "0.160.16" at 390 px; a renormalised weight differs and keeps its label."""
    probs = np.array([0.1, 0.4, 0.3, 0.2])
    raw = {t.name: t for t in topk_bars(probs, slots=[1, 2], dropped=[False, False], weights=probs[[1, 2]]).data}
    assert list(raw["combine weight"].text) == ["", ""] and list(raw["kept: router probability"].text) == ["0.40",
                                                                                                        "0.30"]
    renormalised = probs[[1, 2]] / probs[[1, 2]].sum()
    norm = {t.name: t for t in topk_bars(probs, slots=[1, 2], dropped=[False, False], weights=renormalised).data}
    assert list(norm["combine weight"].text) == [f"{w:.2f}" for w in renormalised]


def test_expert_grid_states():
    fig = expert_grid(10, running=[3, 7], dropped_experts=[5])
    z = np.asarray(fig.data[0].z, dtype=float).reshape(-1)
    states = {e: EXPERT_STATES[int(z[e])] for e in range(10)}
    assert states[3] == states[7] == "running" and states[5] == "dropped" and states[0] == "idle"
    assert np.isnan(z[10:]).all()  # the unused tiles of the last row stay empty
    assert list(np.asarray(fig.data[0].text).reshape(-1)[:10]) == [f"E{e}" for e in range(10)]


def test_compute_bars():
    fig = compute_bars(20.0, 80.0, unit="FLOPs", title=None)
    assert list(fig.data[0].x) == [20.0, 80.0]


def test_combine_figure_rows_are_terms_then_output():
    terms = [{"expert": 2, "weight": 0.75, "output": np.array([1.0, -1.0]), "term": np.array([0.75, -0.75])},
             {"expert": 0, "weight": 0.25, "output": np.array([2.0, 1.0]), "term": np.array([0.5, 0.25])}]
    out = np.array([1.25, -0.5])
    fig = combine_figure(terms, out)
    np.testing.assert_allclose(np.asarray(fig.data[0].z), [[0.75, -0.75], [0.5, 0.25], [1.25, -0.5]])
    assert list(fig.layout.yaxis.ticktext) == ["0.750 × E2", "0.250 × E0", "= output"]  # 3 decimals, as step 6's formula
    # the colour range covers the raw expert outputs too (E0's 2.0), the range step 4 draws them with
    assert fig.data[0].zmax == output_range(terms, out) == 2.0


def test_misreading_figure_has_three_rows():
    fig = misreading_figure([1, 2], [1, 2], [0, 1], k_label="2 experts", num_experts=8)
    assert np.asarray(fig.data[0].z).shape == (3, 2)
    assert "all 8" in fig.layout.yaxis.ticktext[1]


@pytest.mark.parametrize("num_experts", [2, 8, 64])
def test_expert_grid_sizes(num_experts):
    fig = expert_grid(num_experts, running=[0])
    assert np.asarray(fig.data[0].z).shape == (int(np.ceil(num_experts / 8)), min(num_experts, 8))


def test_token_window_shows_rows_around_the_token_and_keeps_every_row():
    import torch
    from moeviz.figures.routing import probs_heatmap
    from moeviz.figures.walkthrough import token_window
    T, E, rows = 24, 4, 8
    probs = torch.softmax(torch.randn(T, E, generator=torch.Generator().manual_seed(0)), -1)
    chosen = probs.topk(2, -1).indices
    for token, first in ((0, 0), (12, 8), (23, 16)):
        fig = token_window(probs_heatmap(probs, chosen, [str(t) for t in range(T)]), T, token, rows)
        assert tuple(fig.layout.yaxis.range) == (first + rows - 0.5, first - 0.5)  # reversed: first token on top
        assert first <= token < first + rows
        assert fig.data[0].z.shape == (T, E) if hasattr(fig.data[0].z, "shape") else len(fig.data[0].z) == T
        assert fig.layout.height < 110 + 26 * T
    short = probs_heatmap(probs[:5], chosen[:5], list("abcde"))
    assert token_window(short, 5, 2, rows).layout.yaxis.range is None  # fits already: left as it was


def test_probability_range_ends_above_the_tallest_bar_of_every_chart_it_is_shared_by():
    from moeviz.figures.walkthrough import probability_range
    trained, untrained = np.array([0.05, 0.18, 0.11]), np.array([0.3, 0.2, 0.5])
    low, top = probability_range(trained, untrained)
    assert low == 0 and top == pytest.approx(0.5 * 1.25)
    assert probability_range(np.array([0.9, 0.1])) == [0.0, 1.0]  # never past 1
