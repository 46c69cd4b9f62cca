"""moeviz.figures.numbers: a chart's numbers as text tables, checked against the trace tensors and formats."""
import numpy as np
import plotly.graph_objects as go
import pytest

from moeviz.figures import expert_names, figure
from moeviz.figures.balance import loss_curves
from moeviz.figures.numbers import figure_tables, plain
from moeviz.figures.routing import load_bars, router_heatmap
from moeviz.figures.walkthrough import block_diagram, BLOCK_PARTS, expert_grid, score_bars, topk_bars
from moeviz.train import TrainConfig, train
from tests.helpers import traced


@pytest.fixture(scope="module")
def trace():
    return traced(5, num_experts=6, top_k=2, capacity_factor=0.75, seed=1)


LABELS = ["The", "<b>bold</b>", "a&b", "x", "."]


def test_heatmap_table_is_the_matrix_as_drawn_with_the_hover_rounding(trace):
    (table,) = figure_tables(router_heatmap(trace, LABELS))  # it escapes the labels for Plotly
    probs = trace.router_probs.double().numpy()
    assert list(table.frame.index) == LABELS  # the user's text as typed, not Plotly's escaped markup
    assert list(table.frame.columns) == expert_names(6)
    expected = [[format(p, ".4f") for p in row] for row in probs]  # the heatmap hovers %{z:.4f}
    assert table.frame.values.tolist() == expected


def test_bars_share_one_table_and_flat_lines_are_listed_apart(trace):
    fig = load_bars(trace, title="Load")
    tables = {t.caption: t.frame for t in figure_tables(fig)}
    bars = [t for t in fig.data if t.type == "bar"]
    (frame,) = [f for caption, f in tables.items() if caption != "Lines"]
    assert list(frame.index) == expert_names(6)
    for bar in bars:
        assert frame[bar.name].tolist() == [f"{v:.0f}" for v in bar.y]
    lines = [t for t in fig.data if t.type == "scatter" and t.hoverinfo != "skip"]
    assert tables["Lines"].index.tolist() == [t.name for t in lines]
    assert tables["Lines"]["value"].tolist() == [format(t.y[0], ".3g") for t in lines]


def test_printed_bar_values_are_the_values_shown(trace):
    probs = trace.router_probs[0]
    (table,) = figure_tables(score_bars(probs, name="probability", title="P", text_format=".3f"))
    assert table.frame["probability"].tolist() == [format(float(p), ".3f") for p in probs]


def test_bars_over_the_same_experts_merge_into_one_table(trace):
    """Kept and masked-out bars (and the kept weights) are one list of experts: one row each, in expert order;
    a bar that prints its value shows that value, one that prints nothing shows its hover's rounding."""
    fig = topk_bars(trace.router_probs[0], trace.topk_indices[0], trace.dropped[0], trace.topk_weights[0])
    (table,) = figure_tables(fig)
    assert list(table.frame.index) == expert_names(6)
    for bar in fig.data:
        column = table.frame[bar.name]
        printed = [plain(t) for t in bar.text] if any(bar.text) else None
        for i, (e, y) in enumerate(zip(bar.x, bar.y)):
            assert column[f"E{e}"] == (printed[i] if printed else format(float(y), ".4f"))
        assert (column != "").sum() == len(bar.x)


def test_a_diagram_lists_its_parts_in_order():
    (table,) = figure_tables(block_diagram())
    assert table.frame.iloc[:, 0].tolist() == [plain(part[0]) for part in BLOCK_PARTS]


def test_text_cells_carry_their_hover_state():
    fig = expert_grid(6, running=[1, 4], title="grid")
    (table,) = figure_tables(fig)
    cells = [c for c in table.frame.values.ravel() if c]
    heat = fig.data[0]
    expected = [f"{n} · {s}" for n, s in zip(np.ravel(heat.text), np.ravel(heat.customdata)) if n]
    assert cells == expected


def test_curves_over_the_same_steps_share_a_table():
    history = train(TrainConfig(num_experts=4, top_k=2, steps=6, seed=0, device="cpu"))
    fig = loss_curves(history)
    tables = figure_tables(fig)
    assert len(tables) == 1
    frame = tables[0].frame
    scatters = [t for t in fig.data if t.type == "scatter"]
    assert frame.shape == (len(scatters[0].x), len(scatters))
    assert frame.index.tolist() == [str(int(x)) for x in scatters[0].x]  # the training steps


def test_a_figure_without_data_has_no_table():
    assert figure_tables(figure([], "empty", 100)) == []
    assert figure_tables(go.Figure(go.Scatter(x=[0, 1], y=[None, None]))) == []
