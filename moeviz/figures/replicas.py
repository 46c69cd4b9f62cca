"""Figures of the /replicas page: per-GPU load before and after an EPLB plan, and co-selection across layers.

    gpu_load_bars({"no replicas": before, "with replicas": after})   # (G,) tokens per GPU, or measured rows
    placement_map(plan.phy2log, num_gpus, load)                      # which expert copies sit on which GPU
                                                                     # (GPUs as columns when slots are many)
    co_selection_share_map(share, layer_a, layer_b)                  # P(expert j at layer b | expert i at a)
                                                                     # (a row adds up to layer b's k, not 1)
Trace names in fig.data: the dict's labels, "even share"; "slot"; "share".
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from moeviz.figures import BLUE, GREEN, INK, ORANGE, figure, safe_label
from moeviz.figures.checkpoint import expert_axis

COLORS = (ORANGE, BLUE)  # the layout before, the plan
MIDDLE = GREEN  # a third load between them (/replicas' EPLB placing only), so "before" and "plan" keep their colours


def gpu_load_bars(loads: dict[str, np.ndarray], title: str | None = "Token copies each GPU computes",
                  unit: str = "token copies", height: int = 320) -> go.Figure:
    """Grouped bars, one group per GPU, one bar per labelled load; a dotted line at the even share."""
    traces = []
    colors = COLORS if len(loads) == 2 else (COLORS[0], MIDDLE, COLORS[1])
    for (label, load), color in zip(loads.items(), colors):
        load = np.asarray(load, dtype=float)
        gpus = [f"GPU {g}" for g in range(len(load))]
        traces.append(go.Bar(x=gpus, y=load.tolist(), name=safe_label(label), marker_color=color,
                             text=[f"{v:,.0f}" for v in load], textposition="outside", cliponaxis=False,
                             hovertemplate=f"%{{x}}: %{{y:,.0f}} {unit}<extra>{safe_label(label)}</extra>"))
    first = np.asarray(next(iter(loads.values())), dtype=float)
    mean = float(first.mean())
    traces.append(go.Scatter(x=[f"GPU {g}" for g in range(len(first))], y=[mean] * len(first), mode="lines",
                             name=f"even share = {mean:,.0f}", line=dict(color=INK, dash="dot", width=1.5),
                             hoverinfo="name"))
    top = max(float(np.max(np.asarray(v, dtype=float))) for v in loads.values())
    return figure(traces, title, height, barmode="group", bargap=0.25,
                  yaxis=dict(title=dict(text=unit), range=[0, 1.18 * max(top, 1.0)], gridcolor="#E5E8EC"))


# Slots per GPU drawn as columns: at 390 px a column of "E12*" needs ~30 px, so more slots than this go down
# the rows instead (one column per GPU), where the phone's length has room.
MAX_SLOT_COLUMNS = 9


def placement_map(phy2log, num_gpus: int, load, title: str | None = "Which experts each GPU holds",
                  height: int | None = None) -> go.Figure:
    """One row per GPU, one cell per slot (one column per GPU when a GPU has more than MAX_SLOT_COLUMNS slots),
    labelled with its expert and coloured by the tokens that copy computes (its expert's load split evenly over
    the expert's copies); a copy of a replicated expert is marked."""
    phy2log = np.asarray(phy2log)
    load = np.asarray(load, dtype=float)
    count = np.bincount(phy2log, minlength=len(load))
    per_copy = (load[phy2log] / count[phy2log]).reshape(num_gpus, -1)
    experts = phy2log.reshape(num_gpus, -1)
    text = np.array([[f"E{e}{'*' if count[e] > 1 else ''}" for e in row] for row in experts])
    gpus, slots = [f"GPU {g}" for g in range(num_gpus)], [f"slot {s}" for s in range(experts.shape[1])]
    down = experts.shape[1] > MAX_SLOT_COLUMNS
    z, text, x, y = (per_copy.T, text.T, gpus, slots) if down else (per_copy, text, slots, gpus)
    cell = go.Heatmap(z=z.tolist(), x=x, y=y, text=text.tolist(), texttemplate="%{text}", name="slot",
                      colorscale="Blues", colorbar=dict(title=dict(text="tokens"), thickness=12),
                      hovertemplate=("%{x}, %{y}" if down else "%{y}, %{x}")
                      + ": %{text}, %{z:,.0f} token copies<extra></extra>")
    return figure([cell], title, height or max(300, 100 + 24 * len(y)), yaxis=dict(autorange="reversed"))


# The co-selection map's colour: a share of the row's tokens (each cell 0..1; a row adds up to layer b's k).
SHARE_TITLE = "share of the row's tokens"
# Expert names on the co-selection map: its columns are ~7 px wide on a 390 px phone (32 experts), its rows 14 px.
MAX_COLUMN_LABELS, MAX_ROW_LABELS = 8, 32


def co_selection_share_map(share, layer_a: int, layer_b: int, title: str | None = None,
                           height: int | None = None) -> go.Figure:
    """(E_a, E_b) shares: row i = of the tokens with expert i at layer_a, the share that also chose expert j at
    layer_b. Each cell is a share of the row's tokens (0..1); a row adds up to layer_b's k, since each token picks
    k experts there. Trace name "share"."""
    z = np.asarray(share, dtype=float)
    Ea, Eb = z.shape
    heat = go.Heatmap(z=z.tolist(), x=list(range(Eb)), y=list(range(Ea)), colorscale="Blues", zmin=0, zmax=1,
                      name="share", xgap=1, ygap=1,
                      # the colour bar's title upright along the bar: on a phone the plot keeps the width
                      colorbar=dict(title=dict(text=SHARE_TITLE, side="right"), thickness=12),
                      hovertemplate=f"of the tokens with E%{{y}} at layer {layer_a}, %{{z:.1%}} also chose E%{{x}} "
                                    f"at layer {layer_b}<extra></extra>")
    return figure([heat], title or f"Layer {layer_a} → layer {layer_b}: who goes where",
                  height or max(300, 120 + 14 * Ea),
                  xaxis=expert_axis(Eb, MAX_COLUMN_LABELS, title=dict(text=f"expert at layer {layer_b}")),
                  yaxis=expert_axis(Ea, MAX_ROW_LABELS, title=dict(text=f"expert at layer {layer_a}"),
                                    autorange="reversed"))
