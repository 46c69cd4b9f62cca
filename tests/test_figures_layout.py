"""The shared layout every figure gets: Plotly's toolbar trimmed and upright, off the title row."""
import numpy as np
import pytest

from moeviz.figures import MODEBAR, compute, walkthrough
from moeviz.figures.routing import expert_load_bars, probs_heatmap

FIGURES = {
    "heatmap": lambda: probs_heatmap(np.full((2, 3), 1 / 3), [[0], [1]], ["a", "b"]),
    "load bars": lambda: expert_load_bars([3, 1, 2]),
    "block diagram": walkthrough.block_diagram,
    "scaling (built with finish)": lambda: compute.scaling_lines(
        [{"value": 4, "results": {"sparse": {"median_ms": 1.0}}},
         {"value": 8, "results": {"sparse": {"median_ms": 2.0}}}], "num_experts"),
}


@pytest.mark.parametrize("name", FIGURES)
def test_toolbar_stands_upright_with_two_buttons(name):
    modebar = FIGURES[name]().layout.modebar
    assert modebar.orientation == "v"  # at the right edge: lying in the title row it covered titles at 390 px
    kept = {"toimage", "resetscale"}
    assert not kept & set(modebar.remove) and set(MODEBAR["remove"]) == set(modebar.remove)
