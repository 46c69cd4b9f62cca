"""Figures of the systems view: expert buffers under capacity, per-worker bars, the comm-vs-compute model.

    capacity_buffers(buffers, capacity)      # from moeviz.parallel.capacity.expert_buffers
    worker_bars(workers)                     # ParallelRun.workers: tokens, compute, bytes, waiting per worker
    worker_timelines(runs)                   # {label: workers}: where each worker's step time went
    comm_model_lines(rows, title)            # moeviz.parallel.model.comm_compute_model over device counts
Trace names in fig.data: "kept (in a slot)", "dropped (overflow)", "capacity"; "rows received", "compute ms",
"bytes sent", "bytes received", "waiting ms"; "route", "compute", "all_to_all", "waiting"; "compute", "communication".
"""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from moeviz.figures import BLUE, GREEN, IDLE, INK, ORANGE, SKY, VERMILLION, expert_names, finish, log_axis


def capacity_buffers(buffers, capacity: int | None, title: str | None = "Expert buffers: one square per slot",
                     height: int = 380) -> go.Figure:
    """Each expert a column of slots, bottom up in queue order; copies past the capacity line are dropped."""
    E = len(buffers)
    names = expert_names(E)
    fig = go.Figure()
    for kept, name, color, symbol in ((True, "kept (in a slot)", BLUE, "square"),
                                      (False, "dropped (overflow)", VERMILLION, "x")):
        xs, ys, text = [], [], []
        for e, slots in enumerate(buffers):
            for pos, s in enumerate(slots):
                if s.kept == kept:
                    xs.append(names[e]); ys.append(pos + 1)
                    text.append(f"token {s.token}, choice {s.choice + 1}, p={s.weight:.2f}")
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name=name, text=text, hoverinfo="text+x",
                                 marker=dict(symbol=symbol, size=16, color=color, line=dict(color=INK, width=1))))
    if capacity is not None:
        fig.add_trace(go.Scatter(x=[names[0], names[-1]], y=[capacity + 0.5] * 2, mode="lines", name="capacity",
                                 line=dict(color=INK, dash="dash", width=2), hoverinfo="skip"))
    tallest = max([len(b) for b in buffers] + [capacity or 0, 1])
    fig.update_xaxes(categoryorder="array", categoryarray=names, title="expert")
    fig.update_yaxes(range=[0.3, tallest + 0.7], title="slot (queue order)", dtick=max(1, tallest // 10))
    return finish(fig, title, height)


WORKER_PANELS = (("rows received", "rows_received", 1.0, BLUE), ("compute ms", "compute_ms", 1.0, GREEN),
                 ("bytes sent", "bytes_sent", 1e-3, ORANGE), ("bytes received", "bytes_received", 1e-3, SKY),
                 ("waiting ms", "wait_ms", 1.0, VERMILLION))


def worker_bars(workers: list[dict], title: str | None = "Per worker", height: int = 300) -> go.Figure:
    """Four panels, one bar per worker: token copies received, compute time, kilobytes out and in, waiting."""
    fig = make_subplots(rows=1, cols=4, subplot_titles=("token copies received", "compute (ms)",
                                                        "sent / received (kB)", "waiting for peers (ms)"))
    labels = [f"worker {w['rank']}" for w in workers]
    cols = {"rows received": 1, "compute ms": 2, "bytes sent": 3, "bytes received": 3, "waiting ms": 4}
    for name, key, scale, color in WORKER_PANELS:
        fig.add_trace(go.Bar(x=labels, y=[w[key] * scale for w in workers], name=name, marker_color=color,
                             showlegend=name.startswith("bytes")), row=1, col=cols[name])
    fig.update_layout(barmode="group")
    return finish(fig, title, height)


def worker_timelines(runs: dict[str, list[dict]], title: str | None = "Where each worker's step time went",
                     height: int = 320) -> go.Figure:
    """Stacked horizontal bars per worker (route, compute, all_to_all, waiting) for each labelled run."""
    rows = [(f"{label} · worker {w['rank']}", w) for label, workers in runs.items() for w in workers]
    fig = go.Figure()
    for name, key, color in (("route", "route_ms", IDLE), ("compute", "compute_ms", GREEN),
                             ("all_to_all", "comm_ms", ORANGE), ("waiting", "wait_ms", VERMILLION)):
        fig.add_trace(go.Bar(y=[r[0] for r in rows], x=[r[1][key] for r in rows], name=name, orientation="h",
                             marker_color=color))
    for label, workers in runs.items():
        slowest = max(w["step_ms"] for w in workers)
        fig.add_annotation(x=slowest, y=f"{label} · worker 0", text=f"step {slowest:.0f} ms", showarrow=False,
                           xanchor="left", yshift=10)
    fig.update_layout(barmode="stack")
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title="milliseconds")
    return finish(fig, title, height)


def comm_model_lines(rows: list[dict], title: str | None = "MODEL (not a measurement): time per MoE layer",
                     height: int = 340) -> go.Figure:
    """Compute and communication seconds (as ms) vs number of devices, log-log, from comm_compute_model rows."""
    devices = [r["num_devices"] for r in rows]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=devices, y=[r["compute_s"] * 1e3 for r in rows], name="compute", mode="lines+markers",
                             line=dict(color=GREEN, width=3)))
    fig.add_trace(go.Scatter(x=devices, y=[r["comm_s"] * 1e3 for r in rows], name="communication",
                             mode="lines+markers", line=dict(color=ORANGE, width=3, dash="dash")))
    times = [r[key] * 1e3 for r in rows for key in ("compute_s", "comm_s")]
    fig.update_xaxes(log_axis(devices, at_values=True, title="devices (expert-parallel)"))
    fig.update_yaxes(log_axis(times, max_ticks=5, title="ms per layer (modelled)"))
    return finish(fig, title, height)
