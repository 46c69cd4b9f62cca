"""Figures of sparse vs dense compute: parameters, FLOPs per token, measured time, and how time scales.

    params_bars(summary) / flops_bars(summary)     # from moeviz.costs.cost_summary
    timing_bars(results)                           # from moeviz.bench.layer.run_case
    scaling_lines(points, axis)                    # from moeviz.bench.layer.scaling
Trace names in fig.data: "parameters"; "FLOPs per token"; "median ms"; one line per implementation.
"""
from __future__ import annotations

import plotly.graph_objects as go

from moeviz.figures import BLUE, GREEN, IDLE, ORANGE, VERMILLION, finish, log_axis

IMPL_COLORS = {"sparse": BLUE, "dense-all": VERMILLION, "dense-equivalent": GREEN, "per-expert loop": ORANGE}


def params_bars(summary: dict, title: str | None = "Parameters: stored vs used by one token",
                height: int = 300) -> go.Figure:
    return _count_bars({"total (stored)": (summary["total_params"], IDLE),
                        "active (one token)": (summary["active_params"], BLUE)}, "parameters", title, height)


def flops_bars(summary: dict, title: str | None = "FLOPs per token", height: int = 300) -> go.Figure:
    return _count_bars({"sparse (k experts)": (summary["active_flops_per_token"], BLUE),
                        "dense-all (every expert)": (summary["dense_flops_per_token"], VERMILLION),
                        "dense-equivalent FFN": (summary["dense_equivalent_flops_per_token"], GREEN)},
                       "FLOPs per token", title, height)


def _count_bars(bars: dict, name: str, title: str | None, height: int) -> go.Figure:
    """One labelled horizontal bar per entry {label: (count, colour)}, first on top, its number inside a bar
    longer than half the longest, else after it. Horizontal, each label broken before its parenthesis: side by
    side under vertical bars the labels did not fit the half-width column at 1024 px, and Plotly slanted them."""
    values = [value for value, _ in bars.values()]
    fig = go.Figure(go.Bar(y=list(bars), x=values, name=name, orientation="h",
                           marker_color=[color for _, color in bars.values()],
                           # inside a long bar, after a short one: all outside, the longest bar's number ran past a
                           # half-width chart's edge at 1024 px ("4,198,40"); "auto" shrank a short bar's to fit
                           text=[f"{v:,.0f}" for v in values], textangle=0, cliponaxis=False,
                           textposition=["inside" if v > max(values) / 2 else "outside" for v in values],
                           hovertemplate="%{y}: %{x:,}<extra></extra>"))
    fig.update_yaxes(tickvals=list(bars), ticktext=[stacked_label(label) for label in bars], autorange="reversed")
    fig.update_xaxes(title=name, range=[0, max(values) * 1.35])
    return finish(fig, title, height)


def stacked_label(label: str) -> str:
    """'dense-all (every expert)' -> 'dense-all<br>(every expert)'; 'dense-equivalent FFN' -> its two words on
    two lines: no line of a bar's label wider than its longest word."""
    head, paren, rest = label.partition(" (")
    return f"{head}<br>({rest}" if paren else "<br>".join(label.split(" ", 1))


def timing_bars(results: dict, title: str | None = "Measured time per forward", height: int = 300) -> go.Figure:
    """Median wall time per implementation, with the p95 as the error bar's top."""
    names = list(results)
    medians = [results[n]["median_ms"] for n in names]
    fig = go.Figure(go.Bar(x=names, y=medians, name="median ms",
                           marker_color=[IMPL_COLORS.get(n, IDLE) for n in names],
                           error_y=dict(type="data", symmetric=False, array=[results[n]["p95_ms"] - m
                                                                             for n, m in zip(names, medians)],
                                        arrayminus=[0] * len(names)),
                           hovertemplate="%{x}: %{y:.2f} ms median<extra></extra>"))
    # The medians go under the bar names: written above the bars, the p95 whiskers would strike them through.
    fig.update_xaxes(tickvals=names, ticktext=[f"{n}<br><b>{m:.2f} ms</b>" for n, m in zip(names, medians)])
    fig.update_yaxes(title="ms (median; bar up to the 95th percentile)", rangemode="tozero")
    return finish(fig, title, height)


def scaling_lines(points: list[dict], axis: str, title: str | None = None, height: int = 300) -> go.Figure:
    """points: [{"value": N or T, "results": {impl: timing}}]; one line of median ms per implementation."""
    label = {"num_experts": "experts N", "tokens": "tokens T"}.get(axis, axis)
    fig = go.Figure()
    impls = list(points[0]["results"]) if points else []
    for impl in impls:
        fig.add_trace(go.Scatter(x=[p["value"] for p in points], y=[p["results"][impl]["median_ms"] for p in points],
                                 name=impl, mode="lines+markers", line=dict(color=IMPL_COLORS.get(impl, IDLE), width=3)))
    # x: labelled at the sweep's own points; y: a few 1-2-5 ticks that cannot pile up (see log_ticks)
    fig.update_xaxes(log_axis([p["value"] for p in points], at_values=True, title=label))
    fig.update_yaxes(log_axis([p["results"][i]["median_ms"] for p in points for i in impls], max_ticks=5,
                              title="ms (median)"))
    return finish(fig, title or f"Time as {label} grows", height)
