"""Two figures several pages share: the tokens × experts router heatmap, and the load per expert.

    router_heatmap(trace, labels)                      # or probs_heatmap(probs, topk_indices, labels, ...)
    load_bars(trace)                                   # or expert_load_bars(tokens_per_expert, ...)

The trace versions read a RoutingTrace; the array versions take tensors/arrays for pages that hold their own.
Traces in `fig.data`, by `name`: "router probability" (Heatmap), "top-k chosen" (or, for expert choice,
"picked by the expert") / "chosen, dropped" (outline Scatter), "tokens processed" (or, with highlighted experts,
"this token's experts" / "other experts") / "dropped (over capacity)" (Bar), "capacity" / "even share" (line Scatter);
a what-if's expert-choice heatmap adds "the model's expert, not picked" (dotted outline Scatter).
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from moeviz.figures import (BLUE, IDLE, INK, ORANGE, PROB_COLORSCALE, PROB_RANGE, VERMILLION, expert_names,
                            figure, safe_label, to_numpy)


def _cell_outlines(cells) -> tuple[list, list]:
    """x, y of closed squares around heatmap cells (x = expert, y = token), None-separated for one trace."""
    xs, ys = [], []
    for expert, token in cells:
        xs += [expert - 0.5, expert + 0.5, expert + 0.5, expert - 0.5, expert - 0.5, None]
        ys += [token - 0.5, token - 0.5, token + 0.5, token + 0.5, token - 0.5, None]
    return xs, ys


def _outline_trace(cells, name: str, color: str, dash: str) -> go.Scatter:
    xs, ys = _cell_outlines(cells)
    return go.Scatter(x=xs, y=ys, mode="lines", name=name, hoverinfo="skip",
                      line=dict(color=color, width=3, dash=dash), showlegend=bool(cells))


def probs_heatmap(probs, topk_indices, labels, *, dropped=None, highlight_token: int | None = None,
                  title: str | None = "Router probability per token and expert", height: int | None = None,
                  value_name: str = "router probability", chosen_name: str = "top-k chosen",
                  outline_dropped: bool = True, scale_to_data: bool = False) -> go.Figure:
    """Tokens (rows, first on top) × experts (columns) coloured by probability on a fixed 0..1 scale, or, with
    scale_to_data, from 0 to the largest probability shown (its colorbar says so): with many experts a chosen
    expert's 0.2-0.4 was a pale cell on the 0..1 scale.

    probs (T, E); topk_indices (T, K) outlines each token's chosen experts (legend: `chosen_name`); dropped
    (T, K) bool, optional, draws chosen-but-dropped slots dashed in vermillion instead (or not at all with
    outline_dropped=False); highlight_token bolds that token's label."""
    probs, chosen = to_numpy(probs).astype(float), to_numpy(topk_indices).astype(int)
    T, E = probs.shape
    lost = np.zeros(chosen.shape, bool) if dropped is None else to_numpy(dropped).astype(bool)
    names = [safe_label(label) for label in labels]
    hover = [[f"token {t} “{names[t]}” · expert {e}" for e in range(E)] for t in range(T)]
    zmax = float(probs.max()) if scale_to_data and probs.size and probs.max() > 0 else PROB_RANGE[1]
    scale = "prob" if zmax == PROB_RANGE[1] else f"prob (0 to {zmax:.2f}, the largest here)"
    heat = go.Heatmap(
        z=probs, x=list(range(E)), y=list(range(T)), zmin=PROB_RANGE[0], zmax=zmax,
        colorscale=PROB_COLORSCALE, name=value_name, customdata=hover, xgap=1, ygap=1,
        colorbar=dict(title=dict(text=scale, side="right"), thickness=12, len=0.9),
        hovertemplate="%{customdata}<br>" + value_name + " %{z:.4f}<extra></extra>")
    kept = [(e, t) for t in range(T) for j, e in enumerate(chosen[t]) if not lost[t, j]]
    gone = [(e, t) for t in range(T) for j, e in enumerate(chosen[t]) if lost[t, j] and outline_dropped]
    ticks = [f"<b>{n}</b>" if t == highlight_token else n for t, n in enumerate(names)]
    return figure(
        [heat, _outline_trace(kept, chosen_name, ORANGE, "solid"),
         _outline_trace(gone, "chosen, dropped", VERMILLION, "dot")],
        title, height or max(240, 110 + 26 * T),
        yaxis=dict(tickvals=list(range(T)), ticktext=ticks, autorange="reversed", showgrid=False, zeroline=False),
        xaxis=dict(tickvals=list(range(E)), ticktext=expert_names(E), showgrid=False, zeroline=False))


def router_heatmap(trace, labels, lost=None, **kwargs) -> go.Figure:
    """probs_heatmap of a RoutingTrace: router_probs with its topk_indices outlined and drops dashed.

    The one rule for expert choice, wherever its heatmap is drawn: its slots are all E experts and `dropped`
    marks the experts that did *not* pick the token. Those cells were never chosen, so nothing is outlined as
    dropped; the solid outline shows exactly the experts that picked each token, and its legend says so.
    `lost` (T, E) bool, from a what-if: the experts the model ran for a token that this routing does not run. Under
    token choice a lost expert the variant chose is already a dotted "chosen, dropped" cell; under expert choice
    every lost expert is one that did not pick the token, and gets that same dotted outline, so a learner sees
    a changed expert marked the same way under every rule."""
    if not trace.router_spec.experts_choose:
        return probs_heatmap(trace.router_probs, trace.topk_indices, labels, dropped=trace.dropped, **kwargs)
    fig = probs_heatmap(trace.router_probs, trace.topk_indices, labels, dropped=trace.dropped,
                        chosen_name=EXPERT_PICKED, outline_dropped=False, **kwargs)
    if lost is not None:
        cells = [(int(e), int(t)) for t, e in zip(*np.nonzero(to_numpy(lost)))]
        fig.add_trace(_outline_trace(cells, EXPERT_NOT_PICKED, VERMILLION, "dot"))
    return fig


EXPERT_PICKED = "picked by the expert"  # expert choice's outline: the experts choose, not the token
EXPERT_NOT_PICKED = "the model's expert, not picked"  # expert choice in a what-if: an expert the token lost


MAX_LABELLED_BARS = 16  # experts whose bars each get a count and an axis name (beyond: every 2nd, 4th, ... name)


def expert_load_bars(tokens_per_expert, *, capacity: int | None = None, dropped_per_expert=None,
                     highlight_experts=(), even_share: float | None = None,
                     title: str | None = "Tokens each expert processes", height: int = 320,
                     unit: str = "tokens") -> go.Figure:
    """Bars of tokens processed per expert, each labelled with its count; optional dashed capacity line,
    dropped slots stacked on top (hatched vermillion, labelled "+n"), a dotted "even share" line.

    With highlight_experts the processed bars split into two legend entries, "this token's experts" (blue) and
    "other experts" (grey), so the legend names what each colour means; without, one "tokens processed".
    `unit` names what a bar counts, on the axis, the legend and the hover ("token copies" where k > 1 makes the
    bars sum to tokens × k)."""
    load = to_numpy(tokens_per_expert).astype(float)
    drops = np.zeros_like(load) if dropped_per_expert is None else to_numpy(dropped_per_expert).astype(float)
    E = len(load)
    highlight = {int(e) for e in highlight_experts}
    groups = ([("this token's experts", BLUE, sorted(highlight)),
               ("other experts", IDLE, [e for e in range(E) if e not in highlight])] if highlight
              else [(f"{unit} processed", BLUE, list(range(E)))])
    # A count sits above its bar; where drops are stacked on top it sits inside, so the two labels never meet.
    # Past MAX_LABELLED_BARS experts the bars are too thin for a count (they ran into each other at 390 px):
    # the hover and the chart's table of numbers still give each one.
    counted = E <= MAX_LABELLED_BARS
    traces = [go.Bar(x=experts, y=load[experts], name=name, marker_color=color,
                     text=[f"{load[e]:.0f}" for e in experts] if counted else None, cliponaxis=False,
                     textposition=["inside" if drops[e] > 0 else "outside" for e in experts],
                     insidetextanchor="end", hovertemplate=f"expert %{{x}}: %{{y:.0f}} {unit}<extra></extra>")
              for name, color, experts in groups if experts]
    if drops.sum() > 0:
        traces.append(go.Bar(x=list(range(E)), y=drops, name="dropped (over capacity)",
                             text=[f"+{d:.0f}" if d > 0 else "" for d in drops] if counted else None,
                             textposition="outside",
                             cliponaxis=False, textfont=dict(color=VERMILLION),
                             # no outline where nothing was dropped: a zero-height bar drew a vermillion line
                             marker=dict(color="white", line=dict(color=VERMILLION,
                                                                  width=[1.5 if d > 0 else 0 for d in drops]),
                                         pattern=dict(shape="/", fgcolor=VERMILLION)),
                             hovertemplate="expert %{x}: %{y:.0f} dropped<extra></extra>"))
    span = [-0.5, E - 0.5]
    if capacity is not None:
        traces.append(go.Scatter(x=span, y=[capacity, capacity], mode="lines", name=f"capacity C = {capacity}",
                                 line=dict(color=VERMILLION, dash="dash", width=2), hoverinfo="name"))
    if even_share is not None:
        traces.append(go.Scatter(x=span, y=[even_share, even_share], mode="lines",
                                 name=f"even share = {even_share:.3g}", line=dict(color=INK, dash="dot", width=1.5),
                                 hoverinfo="name"))
    top = max([1.0, float((load + drops).max(initial=0)), float(capacity or 0), float(even_share or 0)])
    step = -(-E // MAX_LABELLED_BARS)  # name every expert up to MAX_LABELLED_BARS, then every 2nd, 3rd, ...
    return figure(traces, title, height, barmode="stack", bargap=0.25,
                  xaxis=dict(tickvals=list(range(0, E, step)), ticktext=expert_names(E)[::step], range=span),
                  yaxis=dict(title=dict(text=unit), range=[0, 1.18 * top], gridcolor="#E5E8EC"))


def dropped_per_expert(trace) -> np.ndarray:
    """(E,) slots each expert turned away for lack of capacity (0 for expert choice, which has no overflow)."""
    E = trace.num_experts
    if trace.router_spec.experts_choose:
        return np.zeros(E)
    chosen = to_numpy(trace.topk_indices)[to_numpy(trace.dropped).astype(bool)]
    return np.bincount(chosen, minlength=E).astype(float)


def load_bars(trace, *, highlight_experts=(), **kwargs) -> go.Figure:
    """expert_load_bars of a RoutingTrace: processed tokens, drops, its capacity, and the even share T·k/N."""
    processed = to_numpy(trace.tokens_per_expert)
    drops = dropped_per_expert(trace)
    even = (processed.sum() + drops.sum()) / trace.num_experts
    return expert_load_bars(processed, capacity=trace.capacity, dropped_per_expert=drops,
                            highlight_experts=highlight_experts, even_share=even, **kwargs)
