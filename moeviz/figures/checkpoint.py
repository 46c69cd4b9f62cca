"""Figures of a real checkpoint's routing across all its MoE layers (moeviz.hf.analysis gives the numbers).

    layer_load_heatmap(loads, layers)          # MoE layers × experts, share of the layer's routed slots
    journey_grid(journey, labels, layers)      # tokens × layers, each cell the token's top-k experts
    co_selection_heatmap(counts, a, b)         # top-1 expert at layer a × top-1 expert at layer b, token counts

Traces in `fig.data` by name: "load share" (Heatmap), "top-1 expert" (Heatmap, cell text = all k experts),
"tokens" (Heatmap of counts). The tokens × experts heatmap of one layer is moeviz.figures.routing's.
"""
from __future__ import annotations

import plotly.graph_objects as go

from moeviz.figures import (BLUE, GREEN, IDLE, ORANGE, PURPLE, SKY, VERMILLION, YELLOW, expert_names, figure,
                            safe_label, to_numpy)

LOAD_COLORSCALE = [[0.0, "#FFFFFF"], [0.5, "#9ECAE1"], [1.0, "#08306B"]]  # 0 = white: an idle expert stands out
COUNT_COLORSCALE = [[0.0, "#FFFFFF"], [0.2, "#DEEBF7"], [1.0, "#08519C"]]
EXPERT_COLORS = (BLUE, ORANGE, GREEN, VERMILLION, SKY, PURPLE, YELLOW, IDLE)  # cycled for more than 8 experts


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
                  xaxis=dict(tickvals=list(range(E)), ticktext=expert_names(E), showgrid=False, zeroline=False,
                             title=dict(text="expert")),
                  yaxis=dict(tickvals=list(range(L)), ticktext=[f"layer {i}" for i in layers], autorange="reversed",
                             showgrid=False, zeroline=False))


def journey_grid(journey, labels, layers, title: str = "Each token's experts at every layer (top-1 coloured)",
                 height: int | None = None) -> go.Figure:
    """Tokens (rows) × MoE layers (columns) from a (T, L, k) index tensor: colour = the top-1 expert, text = all k."""
    j = to_numpy(journey).astype(int)
    T, L, _ = j.shape
    E = int(j.max()) + 1
    colors = [EXPERT_COLORS[e % len(EXPERT_COLORS)] for e in range(max(E, 2))]
    scale = [[pos, c] for e, c in enumerate(colors) for pos in (e / len(colors), (e + 1) / len(colors))]
    text = [[" ".join(f"E{e}" for e in j[t, i]) for i in range(L)] for t in range(T)]
    names = [safe_label(label) for label in labels]
    heat = go.Heatmap(z=j[:, :, 0], x=list(range(L)), y=list(range(T)), zmin=-0.5, zmax=len(colors) - 0.5,
                      colorscale=scale, showscale=False, name="top-1 expert", text=text, texttemplate="%{text}",
                      textfont=dict(size=11), xgap=2, ygap=1, customdata=[[names[t]] * L for t in range(T)],
                      hovertemplate="token %{y} “%{customdata}” · column %{x}<br>experts %{text}<extra></extra>")
    # The layer names sit on top, under the title: a wider top margin keeps them apart.
    return figure([heat], title, height or max(240, 140 + 22 * T), margin=dict(t=76),
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
                  xaxis=dict(tickvals=list(range(Eb)), ticktext=expert_names(Eb), showgrid=False, zeroline=False,
                             title=dict(text=f"layer {layer_b}")),
                  yaxis=dict(tickvals=list(range(Ea)), ticktext=expert_names(Ea), autorange="reversed",
                             showgrid=False, zeroline=False, title=dict(text=f"layer {layer_a}")))
