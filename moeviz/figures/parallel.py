"""Figures of the systems view: expert buffers under capacity, per-GPU bars (a worker process per GPU), the
comm-vs-compute model.

    capacity_buffers(buffers, capacity)      # from moeviz.parallel.capacity.expert_buffers (its queue order)
    worker_bars(workers)                     # ParallelRun.workers: tokens, compute, bytes, waiting per worker
    worker_timelines(runs)                   # {label: workers}: where each worker's step time went
    comm_model_lines(rows, title)            # moeviz.parallel.model.comm_compute_model over device counts
    dropless_vs_capacity_bars(result)        # moeviz.parallel.dropless.dropless_vs_capacity: rows per expert
    devices_spanned_bars(span)               # moeviz.parallel.placement.device_limit_demo: devices per token
Trace names in fig.data: "kept (in a slot)", "dropped (overflow)", "capacity"; "rows received", "compute ms",
"bytes sent", "bytes received", "waiting ms"; "route", "compute", EXCHANGE, "waiting", "other"; "compute",
"communication".
"""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from moeviz.figures import BLUE, GREEN, IDLE, INK, ORANGE, SKY, VERMILLION, expert_names, figure, finish, log_axis


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
                    text.append(f"token {s.token}, choice {s.choice + 1}: router probability {s.prob:.2f}, "
                                f"combine weight {s.weight:.2f}")
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


def worker_bars(workers: list[dict], title: str | None = "Per GPU", height: int = 480) -> go.Figure:
    """Four panels, one bar per GPU (a worker process standing for one): token copies received, compute time,
    kilobytes out and in, waiting.
    Two by two: four in a row ran their titles into each other at 1024 px."""
    fig = make_subplots(rows=2, cols=2, vertical_spacing=0.2,
                        subplot_titles=("token copies received", "compute (ms)", "sent / received (kB)",
                                        "waiting for peers (ms)"))
    labels = [f"GPU {w['rank']}" for w in workers]
    panels = {"rows received": (1, 1), "compute ms": (1, 2), "bytes sent": (2, 1), "bytes received": (2, 1),
              "waiting ms": (2, 2)}
    for name, key, scale, color in WORKER_PANELS:
        row, col = panels[name]
        fig.add_trace(go.Bar(x=labels, y=[w[key] * scale for w in workers], name=name, marker_color=color,
                             showlegend=name.startswith("bytes")), row=row, col=col)
    fig.update_layout(barmode="group")
    fig = finish(fig, title, height)
    fig.update_layout(margin_t=76)  # the top panels' titles stand above their plots: room under the figure's title
    return fig


# The timelines' exchange phase in words: no page names a collective by its function name.
EXCHANGE = "sending tokens (all-to-all)"


def worker_timelines(runs: dict[str, list[dict]], title: str | None = "Where each GPU's step time went",
                     height: int | None = None, unit: str = "GPU") -> go.Figure:
    """Stacked horizontal bars per GPU (route, compute, EXCHANGE, waiting, other) for each labelled run:
    with "other" (the untimed rest of the step) each bar reaches that GPU's step time. Height grows with the
    bars (None) so three runs of four GPUs stay readable. `unit` names a row on the axis (each GPU is played
    here by a worker process)."""
    rows = [(f"{label} · {unit} {w['rank']}", w) for label, workers in runs.items() for w in workers]
    height = height or max(320, 120 + 26 * len(rows))
    fig = go.Figure()
    for name, key, color in (("route", "route_ms", IDLE), ("compute", "compute_ms", GREEN),
                             (EXCHANGE, "comm_ms", ORANGE), ("waiting", "wait_ms", VERMILLION),
                             ("other", "other_ms", SKY)):
        fig.add_trace(go.Bar(y=[r[0] for r in rows], x=[r[1].get(key, 0.0) for r in rows], name=name, orientation="h",
                             marker_color=color))
    for label, workers in runs.items():
        # beside the end of the slowest GPU's own bar: above a group's first row it sat on the previous group's bars
        slowest = max(workers, key=lambda w: w["step_ms"])
        fig.add_annotation(x=slowest["step_ms"], y=f"{label} · {unit} {slowest['rank']}", showarrow=False,
                           text=f"step {slowest['step_ms']:.0f} ms", xanchor="left", xshift=4)
    longest = max([w["step_ms"] for workers in runs.values() for w in workers] + [1.0])
    # legend in the bars' left-to-right order: Plotly reverses a stacked-bar legend unless told "normal"
    fig.update_layout(barmode="stack", legend_traceorder="normal")
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title="milliseconds", range=[0, longest * 1.2])  # room for the step label after the bar
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
    fig.update_xaxes(log_axis(devices, at_values=True, max_ticks=len(devices), title="GPUs (expert-parallel)"))
    fig.update_yaxes(log_axis(times, max_ticks=5, title="ms per layer (modelled)"))
    return finish(fig, title, height)


def dropless_vs_capacity_bars(result, title: str | None = "The same batch, dropless and with a capacity limit",
                              height: int = 340) -> go.Figure:
    """Per expert: rows computed dropless, rows kept under the limit, rows dropped; C and the mean as lines.

    `result`: moeviz.parallel.dropless.DroplessVsCapacity. Trace names: "dropless: rows computed",
    "capacity: rows kept", "capacity: rows dropped", "capacity C", "mean rows"."""
    names = expert_names(len(result.rows_dropless))
    dropped = [a - b for a, b in zip(result.rows_dropless, result.rows_kept)]
    mean = sum(result.rows_dropless) / len(names)
    traces = [
        go.Bar(x=names, y=result.rows_dropless, name="dropless: rows computed", marker_color=BLUE,
               offsetgroup="dropless", hovertemplate="%{x}: %{y} rows, dropless<extra></extra>"),
        go.Bar(x=names, y=result.rows_kept, name="capacity: rows kept", marker_color=GREEN, offsetgroup="capacity",
               hovertemplate="%{x}: %{y} rows kept<extra></extra>"),
        go.Bar(x=names, y=dropped, base=result.rows_kept, name="capacity: rows dropped", offsetgroup="capacity",
               # no outline where nothing was dropped: a zero-height bar drew a vermillion edge on every kept bar
               # a hatched fill, so the legend's swatch shows too (a white fill left it blank)
               marker=dict(color="white", pattern=dict(shape="/", fgcolor=VERMILLION, solidity=0.4),
                           line=dict(color=VERMILLION, width=[2 if d > 0 else 0 for d in dropped])),
               hovertemplate="%{x}: %{y} copies dropped<extra></extra>"),
        go.Scatter(x=[names[0], names[-1]], y=[result.capacity] * 2, mode="lines", name="capacity C",
                   line=dict(color=INK, dash="dash", width=2), hoverinfo="skip"),
        go.Scatter(x=[names[0], names[-1]], y=[mean] * 2, mode="lines", name="mean rows",
                   line=dict(color=ORANGE, dash="dot", width=2), hoverinfo="skip"),
    ]
    return figure(traces, title, height, barmode="group", xaxis=dict(title="expert"),
                  yaxis=dict(title="token copies (rows)", rangemode="tozero"))


def devices_spanned_bars(span, title: str | None = "How many GPUs each token's experts are on",
                         height: int = 320) -> go.Figure:
    """Tokens by the number of GPUs their k experts span, free vs limited to M GPUs. The axis runs to the
    histograms' length, min(k, W) (DeviceSpan): a token cannot span more GPUs than it has experts.

    `span`: moeviz.parallel.placement.DeviceSpan. Trace names: "free routing", "at most M GPUs" ("GPU" for M = 1)."""
    devices = list(range(1, len(span.free) + 1))
    limit = f"at most {span.max_devices} GPU" + ("s" if span.max_devices > 1 else "")
    traces = [go.Bar(x=devices, y=span.free, name="free routing", marker_color=SKY,
                     hovertemplate="%{y} tokens on %{x} GPUs (free)<extra></extra>"),
              go.Bar(x=devices, y=span.limited, name=limit, marker_color=BLUE,
                     hovertemplate=f"%{{y}} tokens on %{{x}} GPUs (limit {span.max_devices})<extra></extra>")]
    return figure(traces, title, height, barmode="group",
                  xaxis=dict(title="GPUs a token's experts span", dtick=1), yaxis=dict(title="tokens"))
