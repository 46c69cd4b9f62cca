"""Figures of a real checkpoint's routing across all its MoE layers (moeviz.hf.analysis gives the numbers).

    layer_load_heatmap(loads, layers)          # MoE layers × experts, share of the layer's routed slots
    journey_grid(journey, confidence, labels, layers)   # tokens × layers, each cell the token's top-k experts
    co_selection_heatmap(counts, a, b)         # top-1 expert at layer a × top-1 expert at layer b, token counts

Traces in `fig.data` by name: "load share" (Heatmap), "top-1 probability" (Heatmap, cell text = all k experts),
"tokens" (Heatmap of counts). The tokens × experts heatmap of one layer is moeviz.figures.routing's.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from moeviz.figures import figure, safe_label, to_numpy

LOAD_COLORSCALE = [[0.0, "#FFFFFF"], [0.5, "#9ECAE1"], [1.0, "#08306B"]]  # 0 = white: an idle expert stands out
COUNT_COLORSCALE = [[0.0, "#FFFFFF"], [0.2, "#DEEBF7"], [1.0, "#08519C"]]


MAX_EXPERT_LABELS = 16  # more labels than this smear into each other on a 1024-px screen


def expert_axis(num_experts: int, most: int = MAX_EXPERT_LABELS, **extra) -> dict:
    """An expert axis labelled E0, E1, ... with at most `most` labels (every 2nd, 4th, ... beyond)."""
    step = -(-num_experts // most)
    ticks = list(range(0, num_experts, step))
    return dict(tickvals=ticks, ticktext=[f"E{e}" for e in ticks], showgrid=False, zeroline=False, **extra)


def layer_load_heatmap(loads, layers, title: str = "Load per layer: share of each layer's routed tokens",
                       height: int | None = None) -> go.Figure:
    """(L, E) load shares as a heatmap, one row per MoE layer (its decoder index), the even share 1/E in the hover."""
    z = to_numpy(loads).astype(float)
    L, E = z.shape
    heat = go.Heatmap(z=z, x=list(range(E)), y=list(range(L)), zmin=0, zmax=max(float(z.max()), 2.0 / E),
                      colorscale=LOAD_COLORSCALE, name="load share", xgap=1, ygap=1,
                      colorbar=dict(title=dict(text="share", side="right"), thickness=12, len=0.9),
                      hovertemplate="expert %{x} · layer %{customdata}<br>%{z:.1%} of the routed tokens"
                                    f"<br>(even share {1 / E:.1%})<extra></extra>",
                      customdata=[[layers[i]] * E for i in range(L)])
    return figure([heat], title, height or max(220, 110 + 28 * L),
                  xaxis=expert_axis(E, title=dict(text="expert")),
                  yaxis=dict(tickvals=list(range(L)), ticktext=[f"layer {i}" for i in layers], autorange="reversed",
                             showgrid=False, zeroline=False))


CONFIDENCE_COLORSCALE = [[0.0, "#FFFFFF"], [0.5, "#FDD49E"], [1.0, "#B30000"]]
PLAIN_CELL = "#EEF2F7"  # a journey cell when the source has no probabilities


# The journey grid is one figure for every screen, so its cells are sized for the narrowest one the app supports:
# a 390 px phone, where Streamlit leaves 358 px for a chart. Text widths are estimated at CHAR_EM of the font size
# per character (measured in Chromium: 0.45 em for "E14 E15 E16 E17" at 11 px; the margin covers wider digits).
PHONE_CHART_PX = 358
CELL_FONT_PX, TICK_FONT_PX, CHAR_EM, CELL_PAD_PX = 11, 13, 0.6, 6
LINE_PX = 14.3  # a line of 11 px cell text: Plotly spaces <br> lines 1.3 em apart
MAX_STACKED = 4  # more experts than this one above another make a row taller than a screen of rows allows


def text_px(chars: int, font_px: float = CELL_FONT_PX) -> float:
    """Estimated width in px of `chars` characters of the app's sans-serif at `font_px`."""
    return chars * CHAR_EM * font_px


def journey_cell_lines(num_layers: int, top_k: int, num_experts: int, labels) -> int:
    """How the k experts are written in a journey cell so that they fit a 390 px phone: 1 = on one line,
    top_k = one per line (a taller row), 0 = not at all (too many columns; hover or the numbers table)."""
    longest_label = max((len(str(label)) for label in labels), default=1)
    cell = (PHONE_CHART_PX - text_px(longest_label, TICK_FONT_PX) - 20) / max(num_layers, 1)
    name = len(f"E{max(num_experts - 1, 0)}")
    if text_px(top_k * name + top_k - 1) + CELL_PAD_PX <= cell:
        return 1
    if top_k <= MAX_STACKED and text_px(name) + CELL_PAD_PX <= cell:
        return top_k
    return 0


def journey_grid(journey, confidence, labels, layers, title: str | None = None,
                 height: int | None = None) -> go.Figure:
    """Tokens (rows) × MoE layers (columns) from a (T, L, k) index tensor: text = the k experts, best first (on
    one line, one per line, or left to the hover: journey_cell_lines); colour = `confidence` (T, L), the router's
    probability for the top-1 expert, which means the same at every layer (an expert's index does not: experts of
    different layers are different networks); None = one colour."""
    j = to_numpy(journey).astype(int)
    T, L, k = j.shape
    names = [safe_label(label) for label in labels]
    lines = journey_cell_lines(L, k, int(j.max(initial=0)) + 1, names)
    # A dump with indices only has no probability: its cells get one plain colour and no colour bar.
    known = confidence is not None
    if title is None:  # the colour is named by the colour bar and the page's caption: a longer title was cut
        title = "Each token's experts at every layer" + ("" if lines else " (hover or tap a cell)")  # at 390 px
    c = to_numpy(confidence).astype(float) if known else np.zeros((T, L))
    sep = "<br>" if lines > 1 else " "
    text = [[sep.join(f"E{e}" for e in j[t, i]) for i in range(L)] for t in range(T)]
    heat = go.Heatmap(z=c, x=list(range(L)), y=list(range(T)), zmin=0, zmax=1,
                      colorscale=CONFIDENCE_COLORSCALE if known else [[0, PLAIN_CELL], [1, PLAIN_CELL]],
                      showscale=known, name="top-1 probability", text=text,
                      texttemplate="%{text}" if lines else None,  # else only the hover says it
                      textfont=dict(size=CELL_FONT_PX), xgap=2, ygap=1, customdata=[[names[t]] * L for t in range(T)],
                      colorbar=dict(title=dict(text="top-1 prob.", side="right"), thickness=12, len=0.9),
                      hovertemplate="token %{y} “%{customdata}” · column %{x}<br>experts %{text}"
                                    + ("<br>top-1 probability %{z:.2f}" if known else "") + "<extra></extra>")
    row = max(22, round(LINE_PX * lines + 8))
    # The layer names sit on top, under the title: a wider top margin keeps them apart.
    return figure([heat], title, height or max(240, 140 + row * T), margin=dict(t=76),
                  xaxis=dict(tickvals=list(range(L)), ticktext=[f"layer {i}" for i in layers], side="top",
                             showgrid=False, zeroline=False),
                  yaxis=dict(tickvals=list(range(T)), ticktext=names, autorange="reversed", showgrid=False,
                             zeroline=False))


def co_selection_heatmap(counts, layer_a: int, layer_b: int, title: str | None = None,
                         height: int | None = None) -> go.Figure:
    """(E_a, E_b) token counts: rows = top-1 expert at layer_a, columns = top-1 expert at layer_b, counts written."""
    c = to_numpy(counts).astype(int)
    Ea, Eb = c.shape
    heat = go.Heatmap(z=c, x=list(range(Eb)), y=list(range(Ea)), colorscale=COUNT_COLORSCALE, name="tokens",
                      text=[[str(v) if v else "" for v in row] for row in c], texttemplate="%{text}", xgap=1, ygap=1,
                      colorbar=dict(title=dict(text="tokens", side="right"), thickness=12, len=0.9),
                      hovertemplate=f"layer {layer_a}: E%{{y}} → layer {layer_b}: E%{{x}}<br>%{{z}} tokens"
                                    "<extra></extra>")
    return figure([heat], title or f"Top-1 expert at layer {layer_a} (rows) and at layer {layer_b} (columns)",
                  height or max(260, 120 + 26 * Ea),
                  xaxis=expert_axis(Eb, title=dict(text=f"layer {layer_b}")),
                  yaxis=expert_axis(Ea, autorange="reversed", title=dict(text=f"layer {layer_a}")))
