"""/replicas reads as one lesson at its defaults (issue 18): one layout for the plan and the run, a default plan
whose picture and number need no footnote, a same-GPU pair explained where it shows, a journeys section that
shows paths, plain words on screen (no code names), and one word for the machines: GPU."""
import json
import re

import numpy as np

from moeviz.eplb import balancedness, default_plan, plan_replicas
from moeviz.routes import summarize, views
from moeviz.routes.example import example_npy
from tests.app.pages import metrics, open_page

PAGE = "pages/8_replicas.py"


def slider(at, key):
    return next(w for w in at.main.get("select_slider") + at.main.get("radio") if w.key == key)


def charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def visible_text(at) -> list[str]:
    """What a reader sees in the page's main area without hovering: text, labels, metric values, chart titles,
    axis titles and legend names (help tooltips are left out: they may name files and flags)."""
    shown = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error"):
        shown += [e.value for e in at.main.get(kind)]
    for kind in ("select_slider", "radio", "selectbox", "number_input", "button", "expander", "text_area"):
        shown += [e.label for e in at.main.get(kind)]
    shown += [f"{m.label} {m.value}" for m in at.main.get("metric")]
    for fig in charts(at):
        layout = fig["layout"]
        shown.append((layout.get("title") or {}).get("text") or "")
        for axis in ("xaxis", "yaxis"):
            shown.append(((layout.get(axis) or {}).get("title") or {}).get("text") or "")
        shown += [t.get("name") or "" for t in fig["data"] if t.get("showlegend", True)]
    return [s for s in shown if s]


def plan_layer0():
    return summarize(example_npy()).layers[0].tokens_per_expert


def test_plan_and_run_start_from_one_layout():
    at = open_page(PAGE)
    assert not at.exception and not at.error
    plan = (slider(at, "gpus").value, slider(at, "replicas").value)
    run = (slider(at, "replica_workers").value, slider(at, "replica_run_r").value)
    assert plan == run, (plan, run)
    stated = [c.value for c in at.main.get("caption") if f"{plan[0]} GPUs, {plan[1]} redundant replicas" in c.value]
    assert len(stated) == 1  # said once, at the top
    # the run's layer line says why its layer is not the dump's
    assert any("starting at section 3's layout" in c.value and "not the dump's" in c.value for c in at.main.get("caption"))


def test_default_plan_needs_no_footnote():
    """At the default layout no GPU holds two copies of one expert (checked on the plan by a loop), and the
    number shown is the planner's balancedness of the bars drawn."""
    at = open_page(PAGE)
    gpus, replicas = slider(at, "gpus").value, slider(at, "replicas").value
    counts = plan_layer0()
    plan = plan_replicas(counts, replicas, gpus)
    for g, experts in enumerate(plan.gpu_experts()):
        assert len(set(experts)) == len(experts), (g, experts)
    assert not any("Two replicas on one GPU" in m.value for m in at.main.get("markdown"))
    bars = next(f for f in charts(at) if f["layout"]["title"]["text"].endswith("token copies each GPU computes"))
    after = next(t["y"] for t in bars["data"] if t["name"].endswith("replicas (EPLB)"))
    assert metrics(at)["Balancedness"] == f"{balancedness(np.array(after)):.2f}"
    assert balancedness(plan.gpu_load(counts)) > 0.99 > 0.7 > balancedness(default_plan(32, gpus).gpu_load(counts))


def test_two_copies_on_one_gpu_say_why_the_balancedness_holds():
    at = open_page(PAGE, {"gpus": "4", "replicas": "4", "routes_layer": "0"})
    plan = plan_replicas(plan_layer0(), 4, 4)
    twins = [(e, g) for g, experts in enumerate(plan.gpu_experts()) for e in set(experts) if experts.count(e) > 1]
    assert twins  # the real algorithm's case (DeepSeek's EPLB gives the same pair on this load)
    said = next(m.value for m in at.main.get("markdown") if "Two replicas on one GPU" in m.value)
    e, g = twins[0]
    assert f"E{e} on GPU {g}" in said and f"GPU {g} computes all of E{e}'s tokens" in said
    assert f"({metrics(at)['Balancedness']})" in said and f"both replicas on GPU {g} included" in said


def test_journeys_show_paths_at_the_default():
    """Section 5's map at its default has rows far from the independent pattern (layer b's load share): a path."""
    at = open_page(PAGE)
    summary = summarize(example_npy(), paths=True)
    (a, b), pair = min(summary.pairs.items())
    fig = next(f for f in charts(at) if f["layout"]["title"]["text"].startswith(f"Layer {a} → layer {b}"))
    share = np.array(fig["data"][0]["z"], dtype=float)
    np.testing.assert_allclose(share, views.co_selection_share(pair))
    independent = np.asarray(summary.layers[b].tokens_per_expert) / summary.layers[b].tokens
    busy_rows = pair.chose >= 50
    assert np.abs(share - independent)[busy_rows].max() > 0.3
    assert not any("shows no paths" in c.value for c in at.main.get("caption"))


CODE_NAME = re.compile(r"`|\b[a-z]+_[a-z_]+\b|\.npy|\bgloo\b|\btorch\.distributed\b|--[a-z]")


def test_no_code_names_in_the_text():
    at = open_page(PAGE)
    # the shared layer line names d_model and d_hidden (the glossary's words, with their help): not this page's
    shown = [s for s in visible_text(at) if not s.startswith("Layer on this page")]
    named = [s for s in shown if CODE_NAME.search(s.replace("\\_", "_"))]
    assert not named, named
    assert "gloo" in " ".join(c.help or "" for c in at.main.get("caption"))  # the backend stays in a tooltip


def test_one_word_for_the_machines():
    at = open_page(PAGE)
    shown = visible_text(at)
    assert not [s for s in shown if re.search(r"\bdevices?\b", s, re.I)]
    workers = [s for s in shown if re.search(r"\bworkers?\b", s, re.I)]
    assert len(workers) == 1 and "each GPU is a worker process" in workers[0], workers
    assert slider(at, "replica_workers").label == "GPUs"
