"""Plotly figures of routing: pure functions, trace (or arrays) in, `plotly.graph_objects.Figure` out.

    from moeviz.figures.routing import router_heatmap, load_bars       # shared by several pages
    from moeviz.figures.walkthrough import ...                          # the six steps

Shared look: the Okabe-Ito palette (readable with every common colour-vision deficiency), router
probabilities on one fixed 0..1 scale everywhere so figures can be compared, expert ids as in the tensors
(0 … E-1). Token text goes through `safe_label`, because Plotly reads a few HTML tags inside labels.
"""
from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

# Okabe & Ito (2008) colours.
BLUE, ORANGE, SKY, GREEN, YELLOW, VERMILLION, PURPLE = (
    "#0072B2", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#D55E00", "#CC79A7")
IDLE = "#C9CED6"  # an expert that does no work: grey, not a hue
INK = "#1F2933"  # text and outlines (the theme's text colour)
# Sequential light -> dark blue (ColorBrewer Blues), order readable without hue. Stops are packed towards 0 because
# router probabilities mostly sit near 1/E: small differences there stay visible on the fixed 0..1 range.
PROB_COLORSCALE = [[0.0, "#F7FBFF"], [0.06, "#DEEBF7"], [0.15, "#9ECAE1"], [0.3, "#4292C6"], [0.55, "#08519C"],
                   [1.0, "#08306B"]]
PROB_RANGE = (0.0, 1.0)
DIVERGING_COLORSCALE = "RdBu"  # for signed vectors (hidden states), centred on 0


def safe_label(text: str) -> str:
    """Token text made inert for Plotly's label markup (<b>, <a href=...>, <br> ...)."""
    return html.escape(str(text), quote=False)


def to_numpy(values) -> np.ndarray:
    """A torch tensor, list or array as a float/int numpy array on the CPU."""
    if hasattr(values, "detach"):
        values = values.detach().cpu()
        values = values.double() if values.dtype.is_floating_point else values
        return values.numpy()
    return np.asarray(values)


def expert_names(num_experts: int) -> list[str]:
    """Axis labels for experts: 'E0', 'E1', ... (the tensor indices)."""
    return [f"E{e}" for e in range(num_experts)]


def finish(fig: go.Figure, title: str | None, height: int) -> go.Figure:
    """The common layout: a title, a fixed height, tight margins, a white plot for projectors."""
    fig.update_layout(
        title=dict(text=title, x=0, xanchor="left", font=dict(size=15)) if title else None,
        height=height, margin=dict(l=10, r=10, t=44 if title else 10, b=30),
        plot_bgcolor="white", paper_bgcolor="white", font=dict(color=INK, size=13),
        legend=dict(orientation="h", yref="container", yanchor="bottom", y=0, xanchor="left", x=0),
        hoverlabel=dict(bgcolor="white", font_size=13))
    return fig
