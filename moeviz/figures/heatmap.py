"""Figures of the trained language model's routing: per-layer heatmaps and the corpus specialization view.

    layer_heatmap(routing, layer)              # tokens × experts router probabilities, top-k outlined
    layer_load_bars(routing, layer)            # tokens per expert, capacity line, drops
    code_share_bars(stats)                     # share of code tokens each expert receives, one bar group per layer

`routing` is a moeviz.lm.analysis.TextRouting, `stats` the specialization dict (analysis.specialization).
Traces in `fig.data` by name: see moeviz.figures.routing for the heatmap and load bars; code_share_bars has
one Bar per layer named "layer L" and a line Scatter named "corpus".
"""
from __future__ import annotations

import plotly.graph_objects as go

from moeviz.figures import BLUE, INK, ORANGE, GREEN, PURPLE, SKY, VERMILLION, expert_names, finish
from moeviz.figures.routing import load_bars, router_heatmap

LAYER_COLORS = (BLUE, ORANGE, GREEN, PURPLE, SKY, VERMILLION)
CODE_MARK = "› "  # prefixed to labels of tokens the prose/code heuristic calls code


def heatmap_labels(routing) -> list[str]:
    """Token labels, code tokens marked, so the heatmap shows which rows the heuristic calls code."""
    return [(CODE_MARK if code else "") + label for label, code in zip(routing.labels, routing.is_code)]


def layer_heatmap(routing, layer: int, height: int | None = None) -> go.Figure:
    """Router probabilities of every token at MoE layer `layer` (fixed 0..1 scale), chosen experts outlined."""
    trace = routing.traces[layer]
    title = f"Layer {layer}: probabilities, top-{trace.top_k} outlined"  # short: fits half a 1024 px page
    return router_heatmap(trace, heatmap_labels(routing), title=title, height=height)


def layer_load_bars(routing, layer: int) -> go.Figure:
    """Tokens each expert of layer `layer` processes for this text, with the capacity line and drops."""
    return load_bars(routing.traces[layer], title=f"Layer {layer}: tokens per expert")


def code_share_bars(stats: dict, height: int = 300) -> go.Figure:
    """Share of code tokens among the tokens each expert received in the training corpus, per layer,
    against the corpus-wide share (a dotted line). Bars far from the line mean a prose or code expert."""
    base = stats["corpus_code_share"]
    bars = []
    for layer, s in enumerate(stats["layers"]):
        experts = [x["expert"] for x in s["experts"]]
        shares = [x["code_share"] for x in s["experts"]]
        slots = [x["slots"] for x in s["experts"]]
        bars.append(go.Bar(x=experts, y=shares, name=f"layer {layer}", customdata=slots,
                           marker_color=LAYER_COLORS[layer % len(LAYER_COLORS)],
                           hovertemplate=f"layer {layer} · expert %{{x}}<br>code share %{{y:.1%}}"
                                         "<br>%{customdata:,} tokens received<extra></extra>"))
    E = max(len(s["experts"]) for s in stats["layers"])
    line = go.Scatter(x=[-0.5, E - 0.5], y=[base, base], mode="lines", name=f"corpus: {base:.0%} code",
                      line=dict(color=INK, dash="dot", width=2), hoverinfo="name")
    fig = go.Figure([*bars, line])
    fig.update_layout(barmode="group", bargap=0.2)
    fig.update_xaxes(tickvals=list(range(E)), ticktext=expert_names(E), range=[-0.5, E - 0.5])
    fig.update_yaxes(title="share of code tokens", range=[0, 1], tickformat=".0%", gridcolor="#E5E8EC")
    return finish(fig, "Prose or code? Share of code tokens each expert receives (training corpus)", height)
