"""moeviz.figures.screen: readable axis text on every axis, and every explicit text size scaled, on a copy."""
import plotly.graph_objects as go
import pytest
import torch

from moeviz.figures.balance import health_curves
from moeviz.figures.screen import AXIS_INK, for_screen
from moeviz.figures.walkthrough import block_diagram, score_bars
from moeviz.train import TrainConfig, train


def font_sizes(node, path=""):
    """{path: size} of every font with an explicit size in a figure's plain-dict tree."""
    found = {}
    if isinstance(node, list):
        for i, item in enumerate(node):
            found.update(font_sizes(item, f"{path}[{i}]"))
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "template":
                continue
            if key.endswith("font") and isinstance(value, dict) and "size" in value:
                found[f"{path}.{key}"] = value["size"]
            found.update(font_sizes(value, f"{path}.{key}"))
    return found


@pytest.fixture(scope="module")
def figures():
    history = train(TrainConfig(num_experts=4, top_k=2, steps=4, seed=0, device="cpu"))
    bars = score_bars(torch.tensor([0.1, 0.5, 0.4]), name="p", title="Scores")
    return [bars, block_diagram(), health_curves(history)]


@pytest.mark.parametrize("scale", [1.0, 1.25])
def test_every_explicit_font_size_is_scaled_and_the_original_kept(figures, scale):
    for fig in figures:
        before = font_sizes(fig.to_plotly_json())
        assert before, "the figure sets some font size"
        shown = for_screen(fig, scale)
        after = font_sizes(shown.to_plotly_json())
        assert after == pytest.approx({path: size * scale for path, size in before.items()})
        assert font_sizes(fig.to_plotly_json()) == before  # the page's figure is untouched


def test_every_axis_gets_readable_tick_and_title_text(figures):
    for fig in figures:
        layout = for_screen(fig).to_plotly_json()["layout"]
        axes = {key for key in layout if key.startswith(("xaxis", "yaxis"))}
        original = {key for key in fig.to_plotly_json()["layout"] if key.startswith(("xaxis", "yaxis"))}
        assert axes == original | {"xaxis", "yaxis"}  # subplot axes (xaxis2, ...) included
        for key in axes:
            assert layout[key]["tickfont"]["color"] == AXIS_INK
            assert layout[key]["title"]["font"]["color"] == AXIS_INK


def test_an_axis_colour_the_figure_chose_is_kept():
    fig = go.Figure(go.Bar(x=[1], y=[2]), layout=dict(xaxis=dict(tickfont=dict(color="red"), title="n")))
    layout = for_screen(fig).to_plotly_json()["layout"]
    assert layout["xaxis"]["tickfont"]["color"] == "red"
    assert layout["xaxis"]["title"] == {"text": "n", "font": {"color": AXIS_INK}}
