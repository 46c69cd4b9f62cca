"""Plotly figures of routing: pure functions, trace (or arrays) in, `plotly.graph_objects.Figure` out.

    from moeviz.figures.routing import router_heatmap, load_bars       # shared by several pages
    from moeviz.figures.walkthrough import ...                          # the six steps

Shared look: the Okabe-Ito palette (readable with every common colour-vision deficiency), router
probabilities on one fixed 0..1 scale everywhere so figures can be compared, expert ids as in the tensors
(0 … E-1). Token text goes through `safe_label`, because Plotly reads a few HTML tags inside labels.
"""
from __future__ import annotations

import html
import math

import numpy as np
import plotly.graph_objects as go

# Okabe & Ito (2008) colours.
BLUE, ORANGE, SKY, GREEN, YELLOW, VERMILLION, PURPLE = (
    "#0072B2", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#D55E00", "#CC79A7")
IDLE = "#C9CED6"  # an expert that does no work: grey, not a hue
INK = "#0B1117"  # text and outlines (the theme's text colour, .streamlit/config.toml)
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


def highlight_colors(num_experts: int, highlight=()) -> list[str]:
    """One bar colour per expert: the highlighted ones blue, the others grey; all blue when none is highlighted."""
    lit = {int(e) for e in highlight}
    return [BLUE if (not lit or e in lit) else IDLE for e in range(num_experts)]


def log_ticks(values, max_ticks: int = 6) -> list[float]:
    """Tick values for a log axis over `values` that never pile up: 1-2-5 per decade, thinned to 1-3, 1, or
    every n-th decade until at most `max_ticks` remain; a range narrower than that gets 1…9 steps, and one
    narrower still its two ends (2 significant digits). Plotly's own minor-tick labels ("complete") wrote
    every 2…9 of each decade and ran into each other."""
    data = [float(v) for v in np.ravel(to_numpy(values)) if v > 0 and math.isfinite(v)]
    if not data:
        return []
    lo, hi = min(data), max(data)
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)

    def inside(mantissas):
        return [float(f"{m}e{d}") for d in decades for m in mantissas if lo <= float(f"{m}e{d}") <= hi]
    for mantissas in ((1, 2, 5), (1, 3), (1,)):
        ticks = inside(mantissas)
        if len(ticks) <= max_ticks:
            break
    ticks = _thin(ticks, max_ticks)
    if len(ticks) < 2:
        fine = inside(range(1, 10))
        ticks = _thin(fine, max_ticks) if len(fine) >= 2 else sorted({float(f"{lo:.2g}"), float(f"{hi:.2g}")})
    return ticks


def _thin(ticks: list, max_ticks: int) -> list:
    """Every n-th tick, n as small as keeps at most max_ticks."""
    return ticks[::max(1, math.ceil(len(ticks) / max_ticks))]


def log_axis(values, max_ticks: int = 6, at_values: bool = False, **axis) -> dict:
    """A log axis (for update_xaxes/update_yaxes or a layout's xaxis=...) labelled at log_ticks(values), or at
    the values themselves with at_values=True (a sweep's own points: N = 4, 8, 16 …; every n-th if many)."""
    ticks = _thin(sorted({float(v) for v in np.ravel(to_numpy(values)) if v > 0}), max_ticks) if at_values else \
        log_ticks(values, max_ticks)
    return dict(type="log", tickvals=ticks, ticktext=[f"{t:g}" for t in ticks], minor=dict(showgrid=False), **axis)


def expert_names(num_experts: int) -> list[str]:
    """Axis labels for experts: 'E0', 'E1', ... (the tensor indices)."""
    return [f"E{e}" for e in range(num_experts)]


def _merge(base: dict, extra: dict) -> dict:
    """`base` with `extra` laid over it, nested dicts merged key by key (like update_layout)."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def base_layout(title: str | None, height: int, **extra) -> dict:
    """The common layout as a plain dict: title, fixed height, tight margins, white plot, legend under the plot;
    `extra` (xaxis=..., yaxis=..., ...) is merged over it."""
    common = dict(
        title=dict(text=title, x=0, xanchor="left", font=dict(size=15)) if title else None,
        height=height, margin=dict(l=10, r=10, t=44 if title else 10, b=30),
        plot_bgcolor="white", paper_bgcolor="white", font=dict(color=INK, size=13),
        legend=dict(orientation="h", yref="container", yanchor="bottom", y=0, xanchor="left", x=0),
        hoverlabel=dict(bgcolor="white", font_size=13), modebar=MODEBAR)
    return _merge(common, extra)


# Plotly's toolbar, shown on hover or tap: only "download as PNG" and "reset axes" (dragging still zooms, a double
# click still resets), standing upright at the right edge. Lying in the title row with its eight buttons it
# covered the titles on a 390 px phone.
MODEBAR = dict(orientation="v", bgcolor="rgba(255,255,255,0.85)", color="#52606D", activecolor=INK,
               remove=["zoom", "pan", "select", "lasso", "zoomin", "zoomout", "autoscale"])


def figure(traces, title: str | None, height: int, **layout) -> go.Figure:
    """A Figure built in one step from trace objects and `base_layout(title, height, **layout)`.

    Why one step, and without Plotly's layout validation: each update_layout / add_annotation call re-validates
    the whole layout (tens of ms on a shared 2-core server), which alone would break the app's 60 ms rerun
    budget. The traces are still validated go.* objects; the layout is ours and covered by the figure tests.
    The empty "none" template: Plotly's default template is ~7 kB that every rerun would copy and send, and
    Streamlit's theme styles the chart anyway."""
    return go.Figure(data=list(traces), layout=base_layout(title, height, template="none", **layout),
                     _validate=False)


def finish(fig: go.Figure, title: str | None, height: int) -> go.Figure:
    """The common layout applied to an existing figure; returns a new figure (use `return finish(fig, ...)`).

    Prefer `figure(traces, title, height, **layout)` for new code: it skips building the figure twice."""
    layout = _merge(fig.layout.to_plotly_json(), base_layout(title, height))
    return go.Figure(data=fig.data, layout=layout, _validate=False)
