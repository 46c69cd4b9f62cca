"""Figures of the balance lab: pure functions from a TrainHistory (or its plain arrays) to Plotly figures.

    load_heatmap(history)        steps × experts, each expert's load ÷ the mean expert's load
    loss_curves(history)         task loss and balance loss per step
    health_curves(history)       busiest ÷ mean load, load CV, router entropy, dropped copies, specialization
    assignment_matrix(history)   clusters × experts: where each cluster's slots went at the end (cluster_shares)
    tradeoff_chart(summaries)    one point per balance weight: final max/mean load vs final task loss
    z_loss_curve(history)        the router z-loss per step and its root, the typical logsumexp
    z_loss_pair(plain, penalised, weight)  the same run without and with a z-loss: z and the largest logit
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from moeviz.figures import (BLUE, GREEN, ORANGE, PURPLE, VERMILLION, base_layout, expert_names, figure, finish,
                            log_axis)
from moeviz.figures.checkpoint import CELL_PAD_PX, PHONE_CHART_PX, TICK_FONT_PX, text_px
from moeviz.glossary import LOAD_RATIO  # the one name on every page (figs.LOAD_RATIO on /balance)
from moeviz.train import TrainHistory

MAX_COLUMNS = 150  # the heatmap averages neighbouring steps beyond this: a browser draws it fast, eyes see the same


def _bin_steps(values: np.ndarray, max_columns: int = MAX_COLUMNS) -> tuple[np.ndarray, np.ndarray]:
    """Average (S, ...) rows in groups so at most max_columns remain; returns (binned, last step of each bin)."""
    S = len(values)
    size = max(1, int(np.ceil(S / max_columns)))
    edges = list(range(0, S, size))
    binned = np.stack([values[a:a + size].mean(axis=0) for a in edges])
    return binned, np.array([min(a + size, S) for a in edges])


# One name per quantity on every label of /balance (metric, table header, chart title, axis, colour bar).
CELL_LOAD = "load ÷ mean"  # one expert's tokens ÷ the mean expert's: the heatmap's cell
DROPPED = "dropped copies"  # token copies that found their expert full
STEP_AXIS = "training step"


def load_heatmap(history: TrainHistory, title: str | None = "Expert load over training") -> go.Figure:
    """z[e, step] = expert e's slots / the mean over experts: 1 = the mean (even), 0 = idle, N/k... = everything."""
    load = history.array("tokens_per_expert")  # (S, E)
    share = load / np.maximum(load.mean(axis=1, keepdims=True), 1e-12)
    binned, steps = _bin_steps(share)
    top = max(2.0, float(binned.max()))
    fig = go.Figure(go.Heatmap(
        z=binned.T, x=steps, y=expert_names(load.shape[1]), zmin=0.0, zmax=top,
        colorscale=[[0.0, "#FFFFFF"], [1.0 / top, "#9ECAE1"], [1.0, "#08306B"]],
        colorbar=dict(title=CELL_LOAD.replace(" ÷ ", " ÷<br>")),
        hovertemplate="step %{x}<br>%{y}: %{z:.2f} × the mean load<extra></extra>"))
    fig.update_xaxes(title=STEP_AXIS)
    fig.update_yaxes(title="expert", autorange="reversed")
    return finish(fig, title, 320)


def loss_curves(history: TrainHistory, title: str | None = "Losses") -> go.Figure:
    steps = np.arange(1, history.steps_done + 1)
    # two lines each: on one line the two titles ran into each other on a phone (390 px)
    fig = make_subplots(rows=1, cols=2, subplot_titles=(f"task loss{TITLE_BREAK}(1 = predicting 0)",
                                                        f"balance loss{TITLE_BREAK}(1 = even, no floor)"))
    fig.add_trace(go.Scatter(x=steps, y=history.array("task_loss"), name="task loss",
                             line=dict(color=BLUE)), row=1, col=1)
    fig.add_trace(go.Scatter(x=steps, y=history.array("balance_loss"), name="balance loss",
                             line=dict(color=ORANGE)), row=1, col=2)
    fig.update_yaxes(log_axis(history.array("task_loss"), max_ticks=5), row=1, col=1)
    # The balance panel always shows its reference value, 1 (perfectly even), and marks it; its title says the
    # line is no floor (a reader read "1 = perfectly even" over a dotted line as the lowest value possible).
    balance = np.append(history.array("balance_loss"), 1.0)  # the reference joins the data for the range
    fig.update_yaxes(range=[min(0.9, balance.min() * 0.95), max(1.1, balance.max() * 1.05)], row=1, col=2)
    fig.add_hline(y=1.0, line=dict(color="#888", dash="dot"), row=1, col=2)
    fig.update_xaxes(title=STEP_AXIS)
    return _room_for_panel_titles(finish(fig, title, 320), title, lines=2)


TITLE_BREAK = "<br>"


def _room_for_panel_titles(fig: go.Figure, title: str | None, lines: int = 1) -> go.Figure:
    """Subplot titles sit above the plot area: keep a top margin for them (`lines` each) even without a figure
    title."""
    return fig.update_layout(margin=dict(t=(64 if title else 36) + 18 * (lines - 1)))


HEALTH = (  # (history field or "specialization", label, colour)
    ("max_mean_load", LOAD_RATIO, VERMILLION),
    ("load_cv", "load CV", ORANGE),
    ("router_entropy", "router entropy (nats)", PURPLE),
    ("dropped_fraction", DROPPED, BLUE),
    ("specialization", "specialization", GREEN),  # the metric's name; the caption under the chart defines it
)


HEALTH_COLUMNS = 2  # panels per row: two stay apart at a phone's width (five in a row overlapped their titles)


def health_curves(history: TrainHistory, title: str | None = "Routing health") -> go.Figure:
    """One small panel per HEALTH measure, HEALTH_COLUMNS to a row (row by row, in HEALTH's order)."""
    steps = np.arange(1, history.steps_done + 1)
    rows = -(-len(HEALTH) // HEALTH_COLUMNS)
    fig = make_subplots(rows=rows, cols=HEALTH_COLUMNS, subplot_titles=[label for _, label, _ in HEALTH],
                        vertical_spacing=0.16, horizontal_spacing=0.12)
    for i, (name, label, colour) in enumerate(HEALTH):
        y = history.specialization() if name == "specialization" else history.array(name)
        fig.add_trace(go.Scatter(x=steps, y=y, name=label, line=dict(color=colour), showlegend=False),
                      row=i // HEALTH_COLUMNS + 1, col=i % HEALTH_COLUMNS + 1)
    fig.add_hline(y=1.0, line=dict(color="#888", dash="dot"), row=1, col=1)  # perfect balance
    # Dropped copies start at 0: a run without drops is a flat line at the bottom, not in the middle of −1…1.
    i = [name for name, _, _ in HEALTH].index("dropped_fraction")
    dropped_max = float(history.array("dropped_fraction").max(initial=0))
    fig.update_yaxes(range=[0, max(0.1, dropped_max * 1.1)], row=i // HEALTH_COLUMNS + 1, col=i % HEALTH_COLUMNS + 1)
    for col in range(1, HEALTH_COLUMNS + 1):  # the step axis under each column's lowest panel only: the gaps above
        last = max(i for i in range(len(HEALTH)) if i % HEALTH_COLUMNS == col - 1)  # hold the next row's titles
        fig.update_xaxes(title=STEP_AXIS, row=last // HEALTH_COLUMNS + 1, col=col)
    return _room_for_panel_titles(finish(fig, title, 170 * rows + 90), title)


# The cluster map is one figure for every screen, so its numbers are sized for the narrowest one (a 390 px phone,
# checkpoint.PHONE_CHART_PX wide): a fixed font that stays readable, whole percentages, and no numbers at all where
# they would not fit a cell there (hover or the numbers table below the chart has them). Plotly's default shrinks
# the text to fit the cell instead: 6 px digits at 1024 px, unreadable.
CLUSTER_FONT_PX = 12
CLUSTER_TICK_CHARS = 1  # row labels are the cluster's number ("0" … "7"), the axis title says "cluster"
AXIS_TITLE_PX = 30  # a rotated axis title and its gap from the tick labels
CLUSTER_ROW_PX = 34


def share_labels(share: np.ndarray) -> list[list[str]]:
    """Each cell's share as printed: whole percentages ("50%"), the format of the hover and the numbers table."""
    return [[f"{v:.0%}" for v in row] for row in share]


def cluster_numbers_fit(share: np.ndarray) -> bool:
    """Whether every cell's percentage fits its cell on a phone (PHONE_CHART_PX wide, no colour bar: the printed
    numbers are the key), at CLUSTER_FONT_PX."""
    longest = max(len(label) for row in share_labels(share) for label in row)
    margins = base_layout(None, 0)["margin"]
    plot_px = (PHONE_CHART_PX - margins["l"] - margins["r"] - text_px(CLUSTER_TICK_CHARS, TICK_FONT_PX)
               - AXIS_TITLE_PX)
    return text_px(longest, CLUSTER_FONT_PX) + CELL_PAD_PX <= plot_px / share.shape[1]


def cluster_shares(history: TrainHistory) -> np.ndarray:
    """(C, E): share of cluster c's slots sent to expert e over the last 10% of steps (rows sum to 1)."""
    counts = history.array("cluster_expert")[history.window()].sum(axis=0)
    return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1e-12)


def assignment_matrix(history: TrainHistory, title: str | None = "Where each cluster's tokens went") -> go.Figure:
    """Share of cluster c's token copies (the kept ones) sent to expert e, over the last 10% of steps (rows sum
    to 1). Each cell prints its percentage where that fits a phone's cell (cluster_numbers_fit); else a colour
    bar is the key and the hover and the numbers table say the values."""
    share = cluster_shares(history)
    C, E = share.shape
    printed = cluster_numbers_fit(share)
    heat = go.Heatmap(
        z=share, x=expert_names(E), y=list(range(C)), zmin=0.0, zmax=1.0, colorscale="Blues",
        name="share of the cluster's token copies", showscale=not printed,
        colorbar=dict(title=dict(text="share of the cluster's token copies", side="right"), thickness=12,
                      tickformat=".0%"),
        texttemplate="%{z:.0%}" if printed else None, textfont=dict(size=CLUSTER_FONT_PX),
        hovertemplate="cluster %{y} → %{x}: %{z:.0%} of its token copies<extra></extra>")
    return figure([heat], title, max(260, 120 + CLUSTER_ROW_PX * C),
                  xaxis=dict(title=dict(text="expert"), side="bottom", showgrid=False),
                  yaxis=dict(title=dict(text="cluster"), tickvals=list(range(C)), ticktext=[str(c) for c in range(C)],
                             autorange="reversed", showgrid=False, zeroline=False))


def tradeoff_chart(summaries: list[dict], title: str | None = "Balance vs task: one point per weight") -> go.Figure:
    """summaries: dicts from TrainHistory.final() (balance_weight, max_mean_load, task_loss, specialization)."""
    x = [s["max_mean_load"] for s in summaries]
    y = [s["task_loss"] for s in summaries]
    labels = [f"α={s['balance_weight']:g}" for s in summaries]
    fig = go.Figure(go.Scatter(
        x=x, y=y, mode="lines+markers+text", text=labels, textposition="top right",
        marker=dict(size=12, color=[s["specialization"] for s in summaries], colorscale="Viridis", cmin=0, cmax=1,
                    colorbar=dict(title="specia-<br>lization"), line=dict(color="#333", width=1)),
        line=dict(color="#AAA", dash="dot"),
        hovertemplate="%{text}<br>" + LOAD_RATIO + " %{x:.2f}<br>task loss %{y:.3f}<extra></extra>"))
    fig.add_vline(x=1.0, line=dict(color="#888", dash="dot"))
    fig.update_xaxes(title=f"final {LOAD_RATIO} (1 = even)")
    fig.update_yaxes(title="final task loss")
    return finish(fig, title, 380)


def z_loss_curve(history: TrainHistory, title: str | None = "Router z-loss per step") -> go.Figure:
    """mean over tokens of logsumexp(router logits)^2 per step (ST-MoE's z-loss), log scale, next to the logits
    themselves: the mean of each token's largest logit and the mean |logit|. The z-loss pulls the logsumexp to 0,
    which the router can do by shifting every logit down: the largest logit falls, |logit| may grow. Trace
    names: "z-loss", "largest logit", "mean |logit|" (histories recorded before these fields: z-loss only)."""
    steps = np.arange(1, history.steps_done + 1)
    z = history.array("z_loss")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("z-loss = mean logsumexp²", "router logits"))
    fig.add_trace(go.Scatter(x=steps, y=z, name="z-loss", line=dict(color=PURPLE), showlegend=False), row=1, col=1)
    for name, key, color, dash in (("largest logit", "max_logit", BLUE, None),
                                   ("mean |logit|", "mean_abs_logit", ORANGE, "dash")):
        values = history.array(key)
        if len(values) == len(steps):
            fig.add_trace(go.Scatter(x=steps, y=values, name=name, line=dict(color=color, dash=dash)), row=1, col=2)
    fig.update_yaxes(type="log", minorloglabels="complete", row=1, col=1)
    fig.update_xaxes(title=STEP_AXIS)
    return _room_for_panel_titles(finish(fig, title, 300), title)


Z_PAIR = (("without z-loss", ORANGE, "dot"), ("with z-loss", PURPLE, None))  # (name, colour, dash): plain, penalised


def z_loss_pair(plain: TrainHistory, penalised: TrainHistory, weight: float,
                title: str | None = "Router z-loss: the same run without and with it") -> go.Figure:
    """Two runs that differ only in the z-loss weight: per step, the z-loss (log scale) and, next to it, the
    mean of each token's largest router logit. Trace names: "without z-loss" and "with z-loss <weight>" in
    each panel (one legend entry per run)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("z-loss = mean logsumexp²", "largest router logit"))
    for history, (name, color, dash) in zip((plain, penalised), Z_PAIR):
        name = name if history is plain else f"{name} {weight:g}"
        steps = np.arange(1, history.steps_done + 1)
        for col, key in enumerate(("z_loss", "max_logit"), start=1):
            fig.add_trace(go.Scatter(x=steps, y=history.array(key), name=name, legendgroup=name,
                                     showlegend=col == 1, line=dict(color=color, dash=dash)), row=1, col=col)
    fig.add_hline(y=0.0, line=dict(color="#888", width=1), row=1, col=2)  # a logit of 0: the softmax's middle
    fig.update_yaxes(type="log", minorloglabels="complete", row=1, col=1)
    fig.update_xaxes(title=STEP_AXIS)
    return _room_for_panel_titles(finish(fig, title, 300), title)
