"""Exports a teacher can keep or hand out: figures as self-contained HTML, the routing trace as CSV/JSON, and
a one-page HTML handout of the walkthrough's six steps with the current numbers.

Pure (no streamlit). Every user-typed string (token text, titles) is HTML-escaped before it enters HTML,
and CSV cells that a spreadsheet would run as a formula are defused.
"""
from __future__ import annotations

import html
import json

import numpy as np
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from moeviz.config import ROUTER_LABELS
from moeviz.glossary import LOAD_RATIO
from moeviz.text import csv_text
from moeviz.trace import RoutingTrace
from moeviz.walkthrough import STEP_NAMES, token_view

# token_text is the token's real text (a leading space is a space); token_label is how the pages show it
# (␣ for that space). The first seven names are those teachers' scripts already read: new columns go at the end.
CSV_COLUMNS = ("token_index", "token_text", "slot", "expert", "weight", "dropped", "router_prob", "token_label")
MAX_TABLE_EXPERTS = 16  # the handout lists every expert up to this many, else the best ones


def _validated(fig: go.Figure) -> go.Figure:
    """The figure rebuilt with Plotly's validation. moeviz.figures.figure skips it for speed, which leaves the
    layout's template as the bare name "none"; plotly's to_html needs the template resolved. (A figure already
    drawn by st.plotly_chart had it resolved by Streamlit's theme; one exported before drawing had not.)"""
    return go.Figure(fig.to_dict())


def figure_html(fig: go.Figure) -> str:
    """A complete HTML page holding the figure, with plotly.js inlined: opens offline, no CDN."""
    return _validated(fig).to_html(include_plotlyjs=True, full_html=True, config={"displaylogo": False})


def figures_html(figures: dict, title: str) -> str:
    """One self-contained HTML page holding several figures (plotly.js inlined once): a page's charts to keep.

    `figures` maps a caption to a Figure; captions and the title are HTML-escaped."""
    parts = [f"<h2>{html.escape(str(caption))}</h2>"
             + _validated(fig).to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})
             for caption, fig in figures.items()]
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><script>{get_plotlyjs()}</script></head>"
            f"<body style='font-family:sans-serif'><h1>{html.escape(title)}</h1>{''.join(parts)}</body></html>")


def trace_rows(trace: RoutingTrace, labels, texts=None) -> list[dict]:
    """One row per token × slot: the expert, its combine weight, whether it was dropped, its router prob.

    labels: each token as the page shows it; texts: each token's real text (default: the labels, for tokens
    that are plain words)."""
    texts = labels if texts is None else texts
    idx, weights = trace.topk_indices.cpu(), trace.topk_weights.float().cpu()
    dropped, probs = trace.dropped.cpu(), trace.router_probs.float().cpu()
    rows = []
    for t in range(trace.num_tokens):
        for slot in range(idx.shape[1]):
            e = int(idx[t, slot])
            rows.append({"token_index": t, "token_text": str(texts[t]), "slot": slot, "expert": e,
                         "weight": float(weights[t, slot]), "dropped": bool(dropped[t, slot]),
                         "router_prob": float(probs[t, e]), "token_label": str(labels[t])})
    return rows


def trace_csv(trace: RoutingTrace, labels, texts=None) -> str:
    """trace_rows as CSV text with a header row (columns CSV_COLUMNS)."""
    return csv_text(trace_rows(trace, labels, texts), CSV_COLUMNS)


def trace_json(trace: RoutingTrace, labels=None, texts=None) -> str:
    """trace.to_json() plus the token labels under "tokens" and their real text under "token_texts" (when
    given)."""
    data = json.loads(trace.to_json())
    if labels is not None:
        data["tokens"] = [str(label) for label in labels]
    if texts is not None:
        data["token_texts"] = [str(text) for text in texts]
    return json.dumps(data, allow_nan=False)


def _fmt(values, digits: int = 3) -> str:
    return ", ".join(f"{float(v):+.{digits}f}" for v in values)


def _table(header, rows) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _steps(trace: RoutingTrace, t: int, labels) -> list[str]:
    """The six steps' HTML bodies for token t (every number read from the trace, through token_view)."""
    view, E = token_view(trace, t, labels), trace.num_experts
    ran = list(zip(view.running.tolist(), view.running_weights.tolist()))
    shown = np.argsort(-view.probs, kind="stable")[:MAX_TABLE_EXPERTS].tolist()
    load = trace.tokens_per_expert.cpu().tolist()
    q = html.escape(view.label)
    return [
        f"<p>Token {t}, “{q}”, enters the layer as a vector of {len(view.vector)} numbers. First eight: "
        f"<code>{_fmt(view.vector[:8])}</code>.</p>",
        "<p>The router gives each expert a score (logit), and the gating function turns scores into "
        f"probabilities ({html.escape(ROUTER_LABELS.get(trace.router, trace.router))}).</p>"
        + _table(("expert", "logit", "probability"), [(f"E{e}", f"{view.logits[e]:+.3f}", f"{view.probs[e]:.3f}")
                                                       for e in shown])
        + ("" if E <= MAX_TABLE_EXPERTS else f"<p>(the {MAX_TABLE_EXPERTS} highest of {E} experts)</p>"),
        f"<p>With k = {trace.top_k}, the token keeps: "
        + (", ".join(f"E{e} (weight {w:.3f})" for e, w in ran) or "no expert")
        + (f". Chosen but dropped for lack of capacity: {', '.join(f'E{e}' for e in view.lost)}"
           if len(view.lost) else "")
        + ".</p>",
        f"<p>{len(ran)} of {E} experts compute this token; the other {E - len(ran)} do no work for it. "
        f"That is {len(ran)} expert computations, not {E}.</p>",
        f"<p>Across all {trace.num_tokens} tokens, each expert processed (E0…E{E - 1}): <code>{load}</code>. "
        f"{LOAD_RATIO.capitalize()} = {trace.metrics.get('max_mean_load', float('nan')):.2f}"
        + (f", capacity C = {trace.capacity} slots per expert" if trace.capacity is not None else "")
        + ". With the experts on separate devices, or on padded buffers of one size, the busiest expert sets the "
        "pace; on one device with grouped matmuls, time follows the total number of rows.</p>",
        "<p>Output = Σ weight × expert output"
        + (" = " + " + ".join(f"{w:.3f}·E{e}(x)" for e, w in ran) if ran else " = 0 (only the residual remains)")
        + f". Weights sum to {sum(w for _, w in ran):.3f}. First eight output values: "
        f"<code>{_fmt(view.output[:8])}</code>; same shape as a plain MLP's output ({len(view.output)} numbers).</p>",
    ]


def layer_line(trace: RoutingTrace, trained: bool | None = None) -> str:
    """The layer in the words the app uses: 'trained weights, d_model 32, router softmax → top-k,
    N = 8 experts, k = 2, capacity: no limit' (the code names, softmax_topk and capacity = None, mean nothing on
    paper). `trained` None leaves out where the weights came from."""
    capacity = "no limit" if trace.capacity is None else f"C = {trace.capacity} slots per expert"
    weights = "" if trained is None else ("trained weights, " if trained else "random weights (never trained), ")
    return (f"{weights}d_model {trace.input.shape[-1]}, router {ROUTER_LABELS.get(trace.router, trace.router)}, "
            f"N = {trace.num_experts} experts, k = {trace.top_k}, capacity: {capacity}")


HANDOUT_CSS = """body{font-family:system-ui,sans-serif;max-width:46em;margin:1.5em auto;color:#1F2933;line-height:1.4}
h1{font-size:1.4em}h2{font-size:1.05em;margin:1em 0 .3em;color:#0072B2}table{border-collapse:collapse;font-size:.9em}
td,th{border:1px solid #C9CED6;padding:2px 8px;text-align:right}code{font-size:.85em}
@media print{body{margin:0}}"""


def walkthrough_handout(trace: RoutingTrace, token_index: int, labels, title: str = "One token through an MoE layer",
                        settings: dict | None = None, trained: bool | None = None) -> str:
    """A one-page HTML handout: the six steps for one token, with this run's numbers (`trained`: whether the
    layer's weights were learned, for its layer line). User text is escaped."""
    if not 0 <= token_index < trace.num_tokens:
        raise ValueError(f"token_index {token_index} is outside 0…{trace.num_tokens - 1}.")
    labels = [str(label) for label in labels]
    sentence = html.escape(" ".join(labels))
    knob_text = html.escape(", ".join(f"{k} = {v}" for k, v in settings.items()) if settings else layer_line(trace, trained))
    steps = "".join(f"<h2>{i}. {html.escape(name)}</h2>{body}" for i, (name, body) in
                    enumerate(zip(STEP_NAMES, _steps(trace, token_index, labels)), start=1))
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{HANDOUT_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p><b>Sentence:</b> {sentence}<br><b>Layer:</b> {knob_text}</p>{steps}"
            "<p><small>Made with moeviz: every number above was read from a real MoE layer's forward pass.</small>"
            "</p></body></html>")


__all__ = ["CSV_COLUMNS", "figure_html", "trace_rows", "trace_csv", "trace_json", "walkthrough_handout"]
