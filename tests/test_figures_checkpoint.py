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


def test_journey_grid_colours_the_top_1_and_writes_all_k():
    g = torch.Generator().manual_seed(0)
    journey = torch.stack([torch.randperm(6, generator=g)[:2] for _ in range(5 * 3)]).view(5, 3, 2)
    fig = journey_grid(journey, ["a", "<b>", "c", "d", "e"], [0, 2, 4])
    heat = by_name(fig, "top-1 expert")
    np.testing.assert_array_equal(np.asarray(heat.z), journey[:, :, 0].numpy())
    assert heat.text[1][2] == f"E{int(journey[1, 2, 0])} E{int(journey[1, 2, 1])}"
    assert list(fig.layout.yaxis.ticktext)[1] == "&lt;b&gt;"  # token text is never Plotly markup
    assert list(fig.layout.xaxis.ticktext) == ["layer 0", "layer 2", "layer 4"]


def test_co_selection_heatmap_writes_the_counts():
    counts = torch.tensor([[3, 0], [1, 2]])
    fig = co_selection_heatmap(counts, 0, 1)
    heat = by_name(fig, "tokens")
    np.testing.assert_array_equal(np.asarray(heat.z), counts.numpy())
    assert [list(r) for r in heat.text] == [["3", ""], ["1", "2"]]
