"""Figures for the six walkthrough steps; pure functions of numbers read from a RoutingTrace.

Vectors (a token's hidden state, an expert's output) are drawn as strips: one cell per dimension, coloured on a
diverging scale centred on 0, so shapes can be compared row by row. Expert ids are the tensor indices.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import plotly.graph_objects as go

from moeviz.figures import (BLUE, DIVERGING_COLORSCALE, IDLE, INK, ORANGE, SKY, VERMILLION, expert_names, figure,
                            highlight_colors, to_numpy)

GRID = "#E5E8EC"


def _symmetric_range(*arrays) -> float:
    peak = max(float(np.abs(to_numpy(a)).max()) if np.size(a) else 0.0 for a in arrays)
    return peak if peak > 0 else 1.0


def vector_strips(rows, names, *, title: str | None = None, zmax: float | None = None,
                  height: int | None = None) -> go.Figure:
    """Each row a vector drawn as a strip of D cells (diverging colours, 0 = white); hover gives exact values."""
    z = np.atleast_2d(to_numpy(rows).astype(float))  # (R, D)
    R, D = z.shape
    zmax = zmax or _symmetric_range(z)
    heat = go.Heatmap(
        z=z, x=list(range(D)), y=list(range(R)), zmin=-zmax, zmax=zmax, zmid=0, colorscale=DIVERGING_COLORSCALE,
        reversescale=True, xgap=1, ygap=3, name="vector", customdata=[[n] * D for n in names],
        colorbar=dict(thickness=10, len=1.0, tickvals=[-zmax, 0, zmax], tickformat=".2f",
                      title=dict(text="value", side="right")),
        hovertemplate="%{customdata}<br>dimension %{x}: %{z:.4f}<extra></extra>")
    return figure([heat], title, height or 96 + 34 * R,
                  yaxis=dict(tickvals=list(range(R)), ticktext=list(names), autorange="reversed", showgrid=False),
                  xaxis=dict(showgrid=False, zeroline=False, tickvals=list(range(0, D, 8 if D > 16 else 1))))


# The block's parts, left to right: (name, label, fill, shape). Labels are broken onto two short lines and each
# box is as wide as its longest line, so that all eight fit side by side even on a 390 px phone (one line each,
# they overlapped there). The name is the part's one-line name (hover, tests).
BLOCK_PARTS = (("token in", "token<br>in", None, "text"), ("RMSNorm", "RMS-<br>Norm", IDLE, "rect"),
               ("attention", "atten-<br>tion", SKY, "rect"), ("+", "+", IDLE, "circle"),
               ("RMSNorm", "RMS-<br>Norm", IDLE, "rect"), ("MoE layer", "MoE<br>layer", ORANGE, "rect"),
               ("+", "+", IDLE, "circle"), ("token out", "token<br>out", None, "text"))
BLOCK_GAP = 0.7  # room for each arrow, in the units of a label character


def _part_width(label: str, shape: str) -> float:
    """A box's width in label characters: its longest line plus a margin (circles: a fixed small size)."""
    return 1.6 if shape == "circle" else max(len(line) for line in label.split("<br>")) + 0.8


@lru_cache(maxsize=1)
def block_diagram() -> go.Figure:
    """Where the MoE layer sits: a pre-norm Transformer block with the MoE in place of the feed-forward MLP;
    the two "+" circles are the residual adds, and the two "residual" paths above the row (residual_paths) carry
    the vector around attention and around the MoE layer into them.

    The same figure every time, so it is built once per process (callers must not modify it)."""
    lefts, x = [], 0.0
    for _, label, _, shape in BLOCK_PARTS:
        lefts.append(x)
        x += _part_width(label, shape) + BLOCK_GAP
    rights = [left + _part_width(label, shape) for left, (_, label, _, shape) in zip(lefts, BLOCK_PARTS)]
    centres = [(a + b) / 2 for a, b in zip(lefts, rights)]
    moe = next(i for i, part in enumerate(BLOCK_PARTS) if part[2] == ORANGE)
    shapes = [dict(type=kind, x0=left, x1=right, y0=-0.5 if kind == "rect" else -0.2,
                   y1=0.5 if kind == "rect" else 0.2, fillcolor=color,
                   line=dict(color=INK, width=2 if i == moe else 1), layer="below")
              for i, ((_, _, color, kind), left, right) in enumerate(zip(BLOCK_PARTS, lefts, rights))
              if kind != "text"]
    labels = [dict(x=c, y=0, text=f"<b>{label}</b>" if i == moe else label, showarrow=False,
                   font=dict(size=12, color=INK)) for i, ((_, label, *_), c) in enumerate(zip(BLOCK_PARTS, centres))]
    arrows = [dict(x=lefts[i], y=0, ax=rights[i - 1], ay=0, xref="x", yref="y", axref="x", ayref="y",
                   showarrow=True, arrowhead=2, arrowwidth=1.5, arrowcolor=INK, text="")
              for i in range(1, len(BLOCK_PARTS))]  # each from the previous part's right edge to this one's left
    # one named, invisible trace so the figure's parts can be checked on fig.data too
    names = go.Scatter(x=centres, y=[0] * len(centres), mode="markers", marker=dict(opacity=0), name="block",
                       text=[part[0] for part in BLOCK_PARTS], hoverinfo="text")
    paths, path_marks = residual_paths(lefts, rights, centres)
    return figure([names], "The MoE layer replaces the block's MLP", 190,
                  shapes=shapes + paths, annotations=labels + arrows + path_marks, showlegend=False,
                  xaxis=dict(visible=False, range=[-0.2, rights[-1] + 0.2], fixedrange=True),
                  yaxis=dict(visible=False, range=[-0.75, RESIDUAL_Y + 0.55], fixedrange=True))


RESIDUAL = "residual"  # the name of each skip path's shape (and its label), for tests and hover
RESIDUAL_Y = 0.85  # the height of the skip paths, above the boxes (which span -0.5 … 0.5)


def residual_paths(lefts, rights, centres) -> tuple[list, list]:
    """The block's two residual connections, found from BLOCK_PARTS: each leaves the arrow just before a
    sub-layer's RMSNorm, runs above the norm and the sub-layer, and comes down into the next "+" circle (where
    the sub-layer's output is added to the vector it was given). Returns (path shapes, annotations): the
    arrowheads into each "+" and a "residual" label over each path."""
    shapes, marks = [], []
    plus = [i for i, part in enumerate(BLOCK_PARTS) if part[0] == "+"]
    for end in plus:
        start = max(i for i in range(end) if BLOCK_PARTS[i][0] == "RMSNorm")  # this sub-layer's norm
        x0 = (rights[start - 1] + lefts[start]) / 2  # the middle of the arrow into the norm
        x1, top = centres[end], RESIDUAL_Y
        shapes.append(dict(type="path", name=RESIDUAL, path=f"M {x0},0 L {x0},{top} L {x1},{top} L {x1},0.45",
                           line=dict(color=INK, width=1.5), layer="below"))
        marks.append(dict(x=x1, y=0.2, ax=x1, ay=0.45, xref="x", yref="y", axref="x", ayref="y", text="",
                          showarrow=True, arrowhead=2, arrowwidth=1.5, arrowcolor=INK))  # into the "+"
        marks.append(dict(x=(x0 + x1) / 2, y=top, yshift=2, yanchor="bottom", showarrow=False, name=RESIDUAL,
                          text=f"{RESIDUAL} (skip)", font=dict(size=12, color=INK)))
    return shapes, marks


def score_bars(values, *, name: str, title: str | None, highlight=(), value_range=None, text_format=".2f",
               height: int = 260) -> go.Figure:
    """One bar per expert: highlighted experts in blue, the others grey (all blue when none is highlighted)."""
    values = to_numpy(values).astype(float)
    E = len(values)
    bars = go.Bar(x=list(range(E)), y=values, name=name, marker_color=highlight_colors(E, highlight),
                  text=[format(v, text_format) for v in values] if E <= 16 else None,
                  textposition="outside", cliponaxis=False,
                  hovertemplate="expert %{x}: %{y:.4f}<extra>" + name + "</extra>")
    return figure([bars], title, height, xaxis=dict(tickvals=list(range(E)), ticktext=expert_names(E)),
                  yaxis=dict(title=dict(text=name), range=value_range, gridcolor=GRID, zeroline=True,
                             zerolinecolor=INK))


def probability_range(*values) -> list[float]:
    """A shared 0…top axis for probability bars: the largest bar plus a quarter for its label, never past 1.
    A fixed 0…1 axis squashed a router's 0.05–0.18 probabilities into a strip at the bottom. Charts compared
    side by side pass all their values, so the same height means the same probability in both."""
    largest = max(float(to_numpy(v).astype(float).max()) for v in values)
    return [0.0, min(1.0, largest * 1.25)]


TOPK_NAMES = ("kept: router probability", "masked out", "chosen, dropped", "combine weight")


def topk_bars(probs, slots, dropped, weights, *, title: str | None = "Top-k keeps the best k, masks the rest",
              height: int = 300) -> go.Figure:
    """Every bar is labelled with its own height, on one 0…1 axis: each expert's router probability (kept in
    blue, masked grey, chosen but lost to capacity vermillion) and, beside each kept one, its combine weight
    (the probability renormalised over the kept k, or the probability itself for a router that keeps it as it
    is). A combine weight that reads the same as its probability is not labelled again: the two labels side by
    side ran together ("0.160.16") on a 390 px phone; the hover still gives it. Trace names: TOPK_NAMES."""
    probs, slots = to_numpy(probs).astype(float), to_numpy(slots).astype(int)
    dropped, weights = to_numpy(dropped).astype(bool), to_numpy(weights).astype(float)
    E = len(probs)
    kept = [int(e) for e, d in zip(slots, dropped) if not d]
    lost = [int(e) for e, d in zip(slots, dropped) if d] if len(slots) < E else []  # expert choice: not chosen
    masked = [e for e in range(E) if e not in kept and e not in lost]
    kept_weights = [float(w) for w, d in zip(weights, dropped) if not d]
    weight_labels = [f"{w:.2f}" if f"{w:.2f}" != f"{probs[e]:.2f}" else "" for e, w in zip(kept, kept_weights)]

    def bars(name, experts, values, color, group, labels=None):
        return go.Bar(x=experts, y=values, name=name, marker_color=color, offsetgroup=group,
                      text=labels if labels is not None else [f"{v:.2f}" for v in values], textposition="outside",
                      cliponaxis=False, constraintext="none",  # full size, not shrunk to the thin bars' width
                      hovertemplate="expert %{x}: " + name + " %{y:.4f}<extra></extra>")
    traces = [bars(TOPK_NAMES[0], kept, probs[kept], BLUE, "probability"),
              bars(TOPK_NAMES[1], masked, probs[masked], IDLE, "probability", labels=[""] * len(masked)),
              bars(TOPK_NAMES[2], lost, probs[lost], VERMILLION, "probability"),
              bars(TOPK_NAMES[3], kept, kept_weights, ORANGE, "weight", labels=weight_labels)]
    top = max([float(probs.max(initial=0))] + kept_weights)
    return figure([t for t in traces if len(t.x)], title, height, barmode="group", bargap=0.2, bargroupgap=0.05,
                  xaxis=dict(tickvals=list(range(E)), ticktext=expert_names(E), range=[-0.5, E - 0.5]),
                  yaxis=dict(title=dict(text="probability, weight (0…1)"), gridcolor=GRID,
                             range=[0, min(1.0, top) * 1.2 + 0.04]))


EXPERT_STATES = ("idle", "running", "dropped")  # codes 0, 1, 2 in expert_grid's z


def expert_grid(num_experts: int, running, dropped_experts=(), *, title: str | None = None) -> go.Figure:
    """All experts as tiles (8 per row): running for this token lit blue, dropped vermillion, idle dark.

    A Heatmap, so tiles scale with the page; z holds each tile's state code (EXPERT_STATES), text its name."""
    E, cols = num_experts, min(num_experts, 8)
    rows = math.ceil(E / cols)
    state = np.full(rows * cols, np.nan)
    state[:E] = 0
    state[[int(e) for e in dropped_experts]] = 2
    state[[int(e) for e in running]] = 1
    names = [f"E{e}" if e < E else "" for e in range(rows * cols)]
    words = [EXPERT_STATES[int(c)] if c == c else "" for c in state]
    dark = "#3E4A59"
    tiles = go.Heatmap(
        z=state.reshape(rows, cols), text=np.reshape(names, (rows, cols)), texttemplate="%{text}",
        customdata=np.reshape(words, (rows, cols)), name="experts", zmin=0, zmax=2, showscale=False,
        colorscale=[[0, dark], [0.33, dark], [0.34, BLUE], [0.66, BLUE], [0.67, VERMILLION], [1, VERMILLION]],
        xgap=6, ygap=6, textfont=dict(color="white", size=14), hovertemplate="%{text}: %{customdata}<extra></extra>")
    return figure([tiles], title, 60 + 62 * rows, xaxis=dict(visible=False),
                  yaxis=dict(visible=False, autorange="reversed"))


def compute_bars(sparse: float, dense: float, *, unit: str, title: str | None, height: int = 170) -> go.Figure:
    """Two horizontal bars: the work sparse routing does vs the work of running every expert."""
    bars = go.Bar(y=["sparse (top-k)", "every expert"], x=[sparse, dense], orientation="h", name=unit,
                  marker_color=[BLUE, IDLE], text=[f"{sparse:,.0f}", f"{dense:,.0f}"], textposition="auto",
                  hovertemplate="%{y}: %{x:,.0f} " + unit + "<extra></extra>")
    return figure([bars], title, height, xaxis=dict(title=dict(text=unit), rangemode="tozero", gridcolor=GRID),
                  yaxis=dict(autorange="reversed"))


def output_range(terms, output) -> float:
    """One colour range for a token's expert outputs (step 4) and its weighted sum (step 6): the largest |value|
    among the running experts' outputs, the weighted terms and the layer output. `terms`: moeviz.walkthrough's
    combine_terms (each with "output" and "term"). With it the same number has the same colour in both steps."""
    arrays = [t[key] for t in terms for key in ("output", "term")] + [to_numpy(output)]
    return _symmetric_range(*arrays)


def combine_figure(terms, output, *, title: str | None = "The weighted sum, term by term",
                   zmax: float | None = None) -> go.Figure:
    """Rows 'w × E_e output' for each expert that ran, then the row '= output'; one colour scale for all
    (by default output_range(terms, output), the range step 4 uses for the same outputs)."""
    rows = [t["term"] for t in terms] + [to_numpy(output)]
    names = [f"{t['weight']:.3f} × E{t['expert']}" for t in terms] + ["= output"]  # as the formula: 3 decimals
    return vector_strips(np.stack(rows), names, title=title, zmax=zmax or output_range(terms, output))


def misreading_figure(sparse, dense, all_vote, *, k_label: str, num_experts: int,
                      title: str | None = "Output for this token, three ways") -> go.Figure:
    """The sparse output, the dense-masked output (same numbers) and the every-expert-votes output (different)."""
    names = [f"sparse: {k_label} ran", f"dense, masked: all {num_experts} ran", "every expert votes"]
    return vector_strips(np.stack([to_numpy(sparse), to_numpy(dense), to_numpy(all_vote)]), names, title=title)


__all__ = ["vector_strips", "block_diagram", "residual_paths", "RESIDUAL", "score_bars", "topk_bars", "TOPK_NAMES",
           "expert_grid", "EXPERT_STATES", "compute_bars", "combine_figure", "output_range", "misreading_figure"]


def token_window(fig: go.Figure, num_tokens: int, token: int, rows: int, row_px: int = 26) -> go.Figure:
    """A tokens × experts heatmap (rows = tokens, first on top) cut to show `rows` rows around `token`, at the
    height those rows need; the other rows stay in the figure, reached by dragging the chart up or down.

    For a projector: a sentence of 24 subword tokens drew the heatmap 734 px tall, past the bottom of a 768-px
    screen; the followed token and its neighbours are the step's point."""
    if num_tokens <= rows:
        return fig
    first = min(max(token - rows // 2, 0), num_tokens - rows)
    # The y axis is reversed (first token on top): its range runs from the bottom row up to the top one.
    fig.update_layout(height=110 + row_px * rows, dragmode="pan",
                      yaxis=dict(range=[first + rows - 0.5, first - 0.5], autorange=False))
    return fig
