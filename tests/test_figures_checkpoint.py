"""Checkpoint figures draw exactly the numbers they are given (the analysis functions are tested in tests/hf)."""
import numpy as np
import torch

from moeviz.figures.checkpoint import co_selection_heatmap, journey_grid, layer_load_heatmap


def by_name(fig, name):
    return next(t for t in fig.data if t.name == name)


def test_layer_load_heatmap_rows_are_the_layers():
    loads = torch.tensor([[0.5, 0.25, 0.25, 0.0], [0.1, 0.2, 0.3, 0.4]])
    fig = layer_load_heatmap(loads, [1, 3])
    heat = by_name(fig, "load share")
    np.testing.assert_allclose(np.asarray(heat.z), loads.numpy())
    assert list(fig.layout.yaxis.ticktext) == ["layer 1", "layer 3"]
    assert list(fig.layout.xaxis.ticktext) == ["E0", "E1", "E2", "E3"]


def test_journey_grid_colours_by_top_1_probability_and_writes_all_k():
    g = torch.Generator().manual_seed(0)
    journey = torch.stack([torch.randperm(6, generator=g)[:2] for _ in range(5 * 3)]).view(5, 3, 2)
    confidence = torch.rand(5, 3, generator=g)
    fig = journey_grid(journey, confidence, ["a", "<b>", "c", "d", "e"], [0, 2, 4])
    heat = by_name(fig, "top-1 probability")
    # colour = a number that means the same at every layer, never the expert's index
    np.testing.assert_allclose(np.asarray(heat.z), confidence.numpy())
    assert heat.text[1][2] == f"E{int(journey[1, 2, 0])} E{int(journey[1, 2, 1])}"
    assert list(fig.layout.yaxis.ticktext)[1] == "&lt;b&gt;"  # token text is never Plotly markup
    assert list(fig.layout.xaxis.ticktext) == ["layer 0", "layer 2", "layer 4"]


def test_expert_labels_are_thinned_beyond_16():
    fig = layer_load_heatmap(torch.full((2, 64), 1 / 64), [0, 1])
    labels = list(fig.layout.xaxis.ticktext)
    assert len(labels) == 16 and labels[:2] == ["E0", "E4"]


def test_co_selection_heatmap_writes_the_counts():
    counts = torch.tensor([[3, 0], [1, 2]])
    fig = co_selection_heatmap(counts, 0, 1)
    heat = by_name(fig, "tokens")
    np.testing.assert_array_equal(np.asarray(heat.z), counts.numpy())
    assert [list(r) for r in heat.text] == [["3", ""], ["1", "2"]]


def test_dropped_bars_only_where_something_was_dropped():
    from moeviz import MoEConfig, MoELayer
    from moeviz.figures.routing import load_bars
    layer = MoELayer(MoEConfig(d_model=8, d_hidden=8, num_experts=4, top_k=2, capacity_factor=1.0, seed=1,
                               device="cpu")).eval()
    with torch.inference_mode():
        _, trace = layer(torch.randn(16, 8, generator=torch.Generator().manual_seed(0)))
    bars = by_name(load_bars(trace), "dropped (over capacity)")
    widths = list(bars.marker.line.width)
    assert any(y == 0 for y in bars.y) and any(y > 0 for y in bars.y)
    assert [w > 0 for w in widths] == [y > 0 for y in bars.y]  # a zero-height bar drew a vermillion line
    assert sum(bars.y) == int(trace.dropped.sum())


def test_a_journey_without_probabilities_claims_no_colour():
    """A dump with indices only draws one plain colour: its title must not say the colour means anything."""
    import torch
    journey = torch.zeros(2, 3, 2, dtype=torch.long)
    assert "colour" not in journey_grid(journey, None, ["a", "b"], [0, 1, 2]).layout.title.text
    known = journey_grid(journey, torch.full((2, 3), 0.5), ["a", "b"], [0, 1, 2])
    assert known.data[0].showscale and "prob" in known.data[0].colorbar.title.text  # the colour bar names it
    plain = journey_grid(journey, None, ["a", "b"], [0, 1, 2])
    assert not plain.data[0].showscale
