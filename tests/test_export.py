"""Exports parse back: figure HTML is self-contained, CSV and JSON hold the trace, the handout escapes text."""
import csv
import html
import io
import json
import re

import plotly.graph_objects as go
import pytest
import torch

from moeviz.config import ROUTER_LABELS
from moeviz.export import (CSV_COLUMNS, figure_html, figures_html, trace_csv, trace_json,
                           walkthrough_handout)
from moeviz.figures.walkthrough import score_bars
from moeviz.walkthrough import STEP_NAMES
from tests.helpers import make_layer, tokens

HOSTILE = "<script>alert('x')</script>"
LABELS = ["=1+1", HOSTILE, 'say "hi", ok', "-2", "plain", "é"]


@pytest.fixture(scope="module", params=["softmax_topk", "expert_choice"])
def trace(request):
    layer = make_layer(request.param, capacity_factor=0.5 if request.param == "softmax_topk" else None)
    with torch.inference_mode():
        return layer(tokens(len(LABELS)))[1]


def test_figure_html_is_self_contained_and_holds_the_data():
    fig = go.Figure(go.Bar(x=[0, 1], y=[3.25, 7.5], name="tokens processed"))
    page = figure_html(fig)
    assert page.startswith("<html>") or page.lstrip().lower().startswith(("<html", "<!doctype"))
    assert 'class="plotly-graph-div"' in page
    assert "tokens processed" in page and "7.5" in page
    assert not re.findall(r"<script[^>]*\bsrc=", page)  # plotly.js inlined: no script loaded from anywhere
    assert len(page) > 1_000_000  # the library itself is in the file


def test_the_apps_own_figures_export_before_they_are_drawn():
    # moeviz.figures.figure skips Plotly's validation (the template stays the bare name "none"): exports must
    # not depend on st.plotly_chart having resolved it first.
    fig = score_bars([0.25, 0.75], name="probability", title="Router probabilities")
    assert "0.75" in figure_html(fig)
    assert figures_html({"probs": fig}, "page").count("Plotly.newPlot") == 1


def test_csv_rows_match_the_trace(trace):
    rows = list(csv.DictReader(io.StringIO(trace_csv(trace, LABELS))))
    T, K = trace.topk_indices.shape
    assert tuple(rows[0].keys()) == CSV_COLUMNS and len(rows) == T * K
    for row in rows:
        t, slot = int(row["token_index"]), int(row["slot"])
        e = int(row["expert"])
        assert e == trace.topk_indices[t, slot].item()
        assert float(row["weight"]) == pytest.approx(trace.topk_weights[t, slot].item(), abs=1e-7)
        assert row["dropped"] == str(bool(trace.dropped[t, slot]))
        assert float(row["router_prob"]) == pytest.approx(trace.router_probs[t, e].item(), abs=1e-7)
    texts = [rows[t * K]["token_text"] for t in range(T)]
    assert texts[0] == "'=1+1" and texts[3] == "'-2"  # spreadsheet formulas defused
    assert texts[1] == HOSTILE and texts[2] == 'say "hi", ok' and texts[5] == "é"


def test_json_round_trips(trace):
    data = json.loads(trace_json(trace, LABELS))
    for key in ("router", "top_k", "num_experts", "capacity", "router_logits", "router_probs", "topk_indices",
                "topk_weights", "dropped", "tokens_per_expert", "metrics", "balance_loss", "tokens"):
        assert key in data
    assert data["tokens"] == LABELS
    assert data["topk_indices"] == trace.topk_indices.tolist()
    assert torch.allclose(torch.tensor(data["router_probs"]), trace.router_probs)


@pytest.mark.parametrize("t", [0, 1, 4])
def test_handout_has_six_steps_with_the_numbers_and_escapes_text(trace, t):
    page = walkthrough_handout(trace, t, LABELS, title=f"Class {HOSTILE}")
    assert "<script>" not in page  # neither the token nor the title gets in as markup
    assert "&lt;script&gt;" in page
    for i, step in enumerate(STEP_NAMES, start=1):
        assert f"<h2>{i}. {step}</h2>" in page
    ran = [int(e) for e, d in zip(trace.topk_indices[t], trace.dropped[t]) if not d]
    weights = [float(w) for w, d in zip(trace.topk_weights[t], trace.dropped[t]) if not d]
    for e, w in zip(ran, weights):
        assert f"E{e} (weight {w:.3f})" in page
    assert f"{len(ran)} of {trace.num_experts} experts compute this token" in page
    assert str(trace.tokens_per_expert.tolist()) in page


def test_handout_rejects_a_token_outside_the_sentence(trace):
    with pytest.raises(ValueError, match="outside"):
        walkthrough_handout(trace, len(LABELS), LABELS)


def test_page_figures_bundle_holds_every_figure_once_with_plotly_inlined():
    figs = {"Load <b>per</b> expert": go.Figure(go.Bar(x=[0, 1], y=[3.5, 7.25])),
            "Router probs": go.Figure(go.Heatmap(z=[[0.125, 0.875]]))}
    page = figures_html(figs, "moeviz · <script>x</script>")
    assert page.count("Plotly.newPlot") == 2 and "7.25" in page and "0.875" in page
    assert not re.findall(r"<script[^>]*\bsrc=", page)  # plotly.js inlined: no script loaded from anywhere
    assert 1_000_000 < len(page) < 2 * len(figure_html(next(iter(figs.values()))))  # the library once, not twice
    assert "<script>x</script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert "&lt;b&gt;per&lt;/b&gt;" in page


@pytest.mark.parametrize("capacity_factor", [None, 1.0])
def test_handout_names_the_layer_in_the_app_s_words(capacity_factor):
    with torch.inference_mode():
        routed = make_layer(capacity_factor=capacity_factor)(tokens(len(LABELS)))[1]
    page = walkthrough_handout(routed, 0, LABELS)
    assert html.escape(ROUTER_LABELS[routed.router]) in page and "softmax_topk" not in page
    assert "None" not in page  # was "capacity = None"
    assert ("capacity: no limit" in page) == (routed.capacity is None)
    if routed.capacity is not None:
        assert f"capacity: C = {routed.capacity} slots per expert" in page


@pytest.mark.parametrize("trained", [True, False])
def test_handout_says_where_the_weights_came_from_and_when_the_busiest_expert_sets_the_pace(trained):
    with torch.inference_mode():
        routed = make_layer()(tokens(len(LABELS)))[1]
    page = walkthrough_handout(routed, 0, LABELS, trained=trained)
    assert ("trained weights" in page) == trained and ("random weights (never trained)" in page) != trained
    assert f"d_model {routed.input.shape[-1]}" in page
    assert "separate devices" in page and "grouped matmuls" in page  # not "the slowest expert sets the pace"


def test_variants_csv_holds_each_token_s_real_text_beside_its_label():
    """/variants' CSV: token_text is the piece the tokenizer decodes (a leading space is a space), not the page's
    label with ␣ (it was the label); token_label keeps the label. Reference: tokenizer.json read by tokenizers."""
    from tokenizers import Tokenizer

    from moeviz.hf.folders import SHIPPED_DIR
    from moeviz.hf.model import load_checkpoint
    from moeviz.hf.shipped import variants_on_logits
    from moeviz.text import DEFAULT_SENTENCE

    model = load_checkpoint(SHIPPED_DIR / "olmoe-tiny", device="cpu")
    routing = model.route(DEFAULT_SENTENCE)
    trace = variants_on_logits(routing.traces[0].router_logits, top_k=2)[0].trace
    rows = list(csv.DictReader(io.StringIO(trace_csv(trace, routing.tokens, model.token_texts(routing.token_ids)))))
    assert tuple(rows[0].keys()) == CSV_COLUMNS and CSV_COLUMNS[:7] == (
        "token_index", "token_text", "slot", "expert", "weight", "dropped", "router_prob")  # teachers' scripts
    first = {int(r["token_index"]): r for r in rows if r["slot"] == "0"}
    tokenizer = Tokenizer.from_file(str(SHIPPED_DIR / "olmoe-tiny" / "tokenizer.json"))
    pieces = [tokenizer.decode([i], skip_special_tokens=False) for i in routing.token_ids]
    assert [first[t]["token_text"] for t in sorted(first)] == pieces
    assert "".join(pieces) == DEFAULT_SENTENCE and any(p.startswith(" ") for p in pieces)
    assert [first[t]["token_label"] for t in sorted(first)] == list(routing.tokens)
    assert any("␣" in label for label in routing.tokens)
    data = json.loads(trace_json(trace, routing.tokens, model.token_texts(routing.token_ids)))
    assert data["tokens"] == list(routing.tokens) and data["token_texts"] == pieces
