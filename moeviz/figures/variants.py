"""Figures comparing router variants on the same tokens (runs from moeviz.variants.run_variants).

    variant_heatmaps(runs, labels)       # one router heatmap per variant, all on the fixed 0..1 scale
    load_comparison(runs)                # tokens per expert, one row of bars per variant, same y range
    experts_per_token_figure(runs, labels)  # tokens × variants: how many experts each token got vs k

Traces in `fig.data`, by `name`: the heatmaps as in moeviz.figures.routing; each load row "tokens processed" and
"dropped (over capacity)" (Bar) and "capacity C" (line Scatter), with the variant's label in `meta`;
"experts per token" (Heatmap, z = experts run, text = counts).
"""
from __future__ import annotations

import textwrap

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from moeviz.figures import BLUE, VERMILLION, expert_names, finish, safe_label, to_numpy
from moeviz.figures.routing import dropped_per_expert, router_heatmap

TICK_LINE = 16  # characters per line of a variant's axis label in the grid of experts per token
TICK_LINES = 2  # lines per label at most: upright, that stack must fit one column on a phone
TICK_SIZE = 11  # px
TICK_ANGLES = [0, -90]  # Plotly keeps the first at which no two labels overlap, else turns them upright

# Fewer experts than k in vermillion, exactly k white, more than k in blue (Okabe-Ito ends, white centre).
COUNT_COLORSCALE = [[0.0, VERMILLION], [0.5, "#FFFFFF"], [1.0, BLUE]]


# /variants draws its heatmaps two to a row: at 1024 px (sidebar open) a chart is ~270 px wide, and a one-line
# title ("softmax → top-k, renormalised · Mixtral, Qwen3-MoE") ran ~150 px past its right edge, cut off. The title
# wraps instead: the rule (bold) in lines of TITLE_LINE characters, the model family below it, smaller.
TITLE_LINE, MODEL_LINE = 26, 34  # characters per line (tests/test_figures_variants.py measures them in pixels)
TITLE_SIZE, MODEL_SIZE = 14, 12  # px
TITLE_LINE_PX = 19  # height of one title line, for the top margin


def heatmap_title(variant) -> str:
    """The variant's rule over its model family, wrapped to the narrowest chart /variants draws."""
    rule = textwrap.wrap(variant.label, TITLE_LINE, break_on_hyphens=False)
    model = textwrap.wrap(variant.model, MODEL_LINE, break_on_hyphens=False)
    family = [f'<span style="font-size:{MODEL_SIZE}px">{line}</span>' for line in model]
    return "<br>".join([f"<b>{line}</b>" for line in rule] + family)


def variant_heatmaps(runs, labels, height: int | None = None) -> list[go.Figure]:
    """router_heatmap of each variant, titled with its name and family; every one uses the same 0..1 colour
    range, and every title gets the top margin of the longest, so charts side by side line up."""
    titles = [heatmap_title(run.variant) for run in runs]
    lines = max((t.count("<br>") + 1 for t in titles), default=1)
    figs = []
    top = 16 + TITLE_LINE_PX * lines  # room for the longest title
    for run, title in zip(runs, titles):
        fig = router_heatmap(run.trace, labels, title=title, height=height)
        # The plot keeps its height; the title stands on the plot's top edge and grows upwards (anchored at its
        # top in the container, Plotly placed a three-line title a few pixels above the chart, cut off).
        fig.layout.update(height=fig.layout.height + top - fig.layout.margin.t, margin_t=top,
                          title_font_size=TITLE_SIZE, title_yref="paper", title_y=1, title_yanchor="bottom",
                          title_pad_b=14)
        if run.trace.router_spec.selection_bias:  # sigmoid scores: not probabilities, and not what picked
            fig.update_traces(selector=dict(type="heatmap"), name=SCORE_NAME, colorbar_title_text=SCORE_BAR,
                              hovertemplate=fig.data[0].hovertemplate.replace("router probability", SCORE_NAME))
        figs.append(fig)
    return figs


# The sigmoid + selection bias heatmap colours each cell by its sigmoid score, each in 0..1 on its own (they do not
# sum to 1 over a token's experts, so "prob" would mislead), without the bias that decided the pick.
SCORE_BAR = "score"
SCORE_NAME = "sigmoid score (without the bias)"


# One legend for all rows: a row's traces are named by their mark and grouped by it; only the first trace of
# each group shows in the legend (a click there hides that mark in every row). `meta` holds the variant's label.
LOAD_MARKS = ("tokens processed", "dropped (over capacity)", "capacity C")


def _mark(name: str, variant: str, shown: set) -> dict:
    """name / meta / legendgroup / showlegend of one row's trace for mark `name`."""
    first = name not in shown
    shown.add(name)
    return dict(name=name, meta=variant, legendgroup=name, showlegend=first)


def load_comparison(runs, title: str | None = "Tokens each expert processed, per variant") -> go.Figure:
    """Small multiples: one bar row per variant (processed in blue, dropped hatched on top, dashed capacity line),
    shared y range; the legend names each mark once (clicking one hides it in every row)."""
    names = [run.variant.label for run in runs]
    fig = make_subplots(rows=len(runs), cols=1, shared_xaxes=True, vertical_spacing=0.35 / max(1, len(runs)),
                        subplot_titles=names)
    top, shown = 1.0, set()
    for row, run in enumerate(runs, start=1):
        load, drops = to_numpy(run.trace.tokens_per_expert).astype(float), dropped_per_expert(run.trace)
        E = len(load)
        label = run.variant.label
        fig.add_trace(go.Bar(x=list(range(E)), y=load, marker_color=BLUE, **_mark(LOAD_MARKS[0], label, shown),
                             hovertemplate="expert %{x}: %{y:.0f} tokens<extra></extra>"), row=row, col=1)
        if drops.sum() > 0:
            fig.add_trace(go.Bar(x=list(range(E)), y=drops, **_mark(LOAD_MARKS[1], label, shown),
                                 marker=dict(color="white", line=dict(  # no outline on empty bars
                                     color=VERMILLION, width=[1.5 if d > 0 else 0 for d in drops]),
                                             pattern=dict(shape="/", fgcolor=VERMILLION)),
                                 hovertemplate="expert %{x}: %{y:.0f} dropped<extra></extra>"), row=row, col=1)
        if run.trace.capacity is not None:
            C = run.trace.capacity
            fig.add_trace(go.Scatter(x=[-0.5, E - 0.5], y=[C, C], mode="lines", **_mark(LOAD_MARKS[2], label, shown),
                                     line=dict(color=VERMILLION, dash="dash", width=1.5),
                                     hovertemplate=f"capacity C = {C}<extra></extra>"), row=row, col=1)
        top = max(top, float((load + drops).max()), float(run.trace.capacity or 0))
    fig.update_layout(barmode="stack", bargap=0.2)
    E = runs[0].trace.num_experts if runs else 0
    fig.update_xaxes(tickvals=list(range(E)), ticktext=expert_names(E), range=[-0.5, E - 0.5])
    fig.update_yaxes(range=[0, top * 1.1], gridcolor="#E5E8EC", nticks=3)
    fig.update_annotations(x=0, xanchor="left", font=dict(size=12))  # row titles at the left, above each row
    return finish(fig, title, 110 + 120 * len(runs))


def tick_text(label: str) -> str:
    """A variant's label as the grid's column label: lines of at most TICK_LINE characters (every label of
    moeviz.variants.VARIANTS takes at most TICK_LINES of them; tests/test_figures_variants.py checks)."""
    return "<br>".join(textwrap.wrap(label, TICK_LINE, break_on_hyphens=False))


def experts_per_token_figure(runs, labels, title: str | None = "Experts that ran for each token") -> go.Figure:
    """Tokens (rows) × variants (columns); the number is how many experts ran, the colour how far from k."""
    counts = np.stack([to_numpy(run.experts_per_token) for run in runs], axis=1).astype(float)  # (T, V)
    ks = np.array([run.k for run in runs], dtype=float)
    offset = counts - ks  # < 0: dropped slots; > 0: expert choice gave extra
    span = max(1.0, float(np.abs(offset).max()))
    names = [safe_label(label) for label in labels]
    T = counts.shape[0]
    heat = go.Heatmap(z=offset, x=[run.variant.label for run in runs], y=list(range(T)), zmin=-span, zmax=span,
                      colorscale=COUNT_COLORSCALE, name="experts per token", text=counts.astype(int),
                      texttemplate="%{text}", customdata=np.broadcast_to(ks, counts.shape), xgap=1, ygap=1,
                      # integer ticks (counts differ by whole experts), close to the grid: room for its columns
                      colorbar=dict(title=dict(text="experts − k", side="right"), thickness=12, dtick=1, xpad=4),
                      hovertemplate="%{x}<br>token %{y}: %{text} experts (k = %{customdata})<extra></extra>")
    fig = go.Figure(heat)
    fig.update_yaxes(tickvals=list(range(T)), ticktext=names, autorange="reversed", showgrid=False)
    # Labels under the grid, never slanted: at 1024 px Plotly's own check let -30° labels of two lines run into each
    # other. Horizontal where every label fits its column (a wide screen), else upright; upright they stand side
    # by side as long as a label's lines fit one column (TICK_LINES of TICK_SIZE px at the narrowest chart,
    # a 390-px phone). The full rule name is in each cell's hover too.
    columns = [run.variant.label for run in runs]
    fig.update_xaxes(side="bottom", showgrid=False, autotickangles=TICK_ANGLES, automargin=True, tickvals=columns,
                     ticktext=[tick_text(label) for label in columns], tickfont_size=TICK_SIZE)
    return finish(fig, title, max(260, 120 + 24 * T))


__all__ = ["variant_heatmaps", "heatmap_title", "load_comparison", "experts_per_token_figure", "COUNT_COLORSCALE"]
