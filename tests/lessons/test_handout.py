"""The hand-outs: the HTML page (offline, escaped, the numbers) and the notebook, executed offline by nbclient,
printing the same numbers as the recipes compute in this process. The recipes are checked against the layer."""
import html
import json
from pathlib import Path

import nbformat
import pytest
import torch

from moeviz.app.lesson_views import lesson_results, view_call
from moeviz.config import MoEConfig
from moeviz.layer import MoELayer
from moeviz.lessons import Lesson, Question, View
from moeviz.lessons.folders import available_lessons, open_lesson
from moeviz.lessons.handout import lesson_html, lesson_notebook, printed_numbers
from moeviz.lessons.recipes import capacity_numbers, walkthrough_numbers
from moeviz.hf.shipped import sentence_tokens
from moeviz.text import embed_tokens

ROOT = Path(__file__).resolve().parents[2]  # the notebook runs where moeviz is importable, as a student would
SHARED = {"num_experts": "6", "top_k": "2", "router": "softmax_topk", "balance_weight": "0.01",
          "capacity_factor": "1", "seed": "3"}
LESSON = Lesson("Hand-out <i>test</i>", (
    View("/", {**SHARED, "trained": "0", "token": "2", "text": "Experts take turns <b>here</b>"}, "A token",
         "Notes with <script>alert(1)</script> and **bold**",
         Question("number", prompt="How many experts run?", answer="experts_run_count")),
    View("/parallel", {**SHARED, "tokens": "16", "drop_policy": "priority"}, "Capacity", "",
         Question("quiz", q=5, kind="overflow")),
    View("/compute", SHARED, "Counts"),
    View("/variants", {**SHARED, "bias_steps": "3", "text": "One two three"}, "Variants"),
    View("/glossary", SHARED, "Words"),
))


def test_views_are_read_by_the_link_parsers():
    recipe, arguments, warnings = view_call(LESSON.views[0])
    assert recipe == "walkthrough" and not warnings
    assert arguments["capacity_factor"] == 1.0 and arguments["token"] == 2 and arguments["trained"] is False
    recipe, arguments, warnings = view_call(View("/parallel", {"tokens": "17", "top_k": "99"}, "bad"))
    assert recipe == "capacity" and arguments["tokens"] == 32 and arguments["top_k"] == 2 and len(warnings) == 2
    assert [view_call(v)[0] for v in LESSON.views] == ["walkthrough", "capacity", "compute", "variants", "layer"]


def test_walkthrough_numbers_are_the_layers():
    n = walkthrough_numbers(num_experts=6, top_k=2, router="softmax_topk", capacity_factor=None, seed=3,
                            source="sentence", text="Experts take turns", vector_seed=0, token=1, trained=False,
                            lm_layer=0)
    cfg = MoEConfig(num_experts=6, top_k=2, seed=3, d_model=32, d_hidden=64, device="cpu")
    x = embed_tokens(sentence_tokens("Experts take turns"), 32, seed=0)  # the tokens every page uses
    with torch.inference_mode():
        _, trace = MoELayer(cfg).eval()(x)
    probs = trace.router_probs[1]
    assert sorted(n["experts_run"]) == sorted(probs.topk(2).indices.tolist())
    top = probs[n["experts_run"]]
    torch.testing.assert_close(torch.tensor(n["weights_run"], dtype=torch.float64),
                               (top / top.sum()).double(), atol=1e-3, rtol=0)
    assert n["tokens_per_expert"] == torch.bincount(trace.topk_indices.reshape(-1), minlength=6).tolist()


def test_capacity_numbers_follow_the_formula():
    n = capacity_numbers(num_experts=8, top_k=2, router="softmax_topk", capacity_factor=0.75, seed=0,
                         drop_policy="position", tokens=32)
    assert n["capacity"] == 6  # ceil(0.75 * 32 * 2 / 8)
    kept = sum(min(load, 6) for load in n["tokens_per_expert"])
    assert n["dropped_copies"] == 64 - kept or n["dropped_copies"] == 64 - sum(n["tokens_per_expert"])


@pytest.fixture(scope="module")
def results():
    return lesson_results(LESSON)


def test_html_handout_is_offline_and_escaped(results):
    page = lesson_html(LESSON, results, base_url="http://host:8501")
    assert "<script>alert(1)</script>" not in page and "<b>here</b>" not in page and "<i>test</i>" not in page
    assert html.escape("<script>alert(1)</script>") in page
    assert "<script src=" not in page and page.count("* plotly.js v") == 1  # plotly.js inlined once: offline
    assert "http://host:8501/parallel?" in page
    for result in results:  # every number each view showed is printed
        for value in result.numbers.values():
            shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
            assert html.escape(shown) in page


@pytest.mark.slow
def test_notebook_runs_offline_and_prints_the_same_numbers(results):
    from nbclient import NotebookClient
    notebook = nbformat.reads(nbformat.writes(lesson_notebook(LESSON, results)), as_version=4)
    nbformat.validate(notebook)
    assert not any("<script>" in cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
                   ).execute()
    assert printed_numbers(notebook) == [json.loads(json.dumps(r.numbers)) for r in results]


@pytest.mark.slow
def test_shipped_lessons_make_hand_outs():
    lessons = available_lessons()
    for name in ("top-k-routing-in-15-minutes", "load-balancing", "moe-at-scale"):
        lesson = open_lesson(name, lessons)
        results = lesson_results(lesson)
        assert all(result.numbers for result in results)
        nbformat.validate(lesson_notebook(lesson, results))
        assert lesson.title in lesson_html(lesson, results)


def test_a_view_reads_its_text_with_the_pages_own_bound():
    """A walkthrough or variants view's text is read as the pages' text box reads it (up to MAX_TEXT_CHARS,
    lines kept), not with a bound of its own: a 400-character text of two lines gives those numbers, no warning."""
    from moeviz.app.textbox import MAX_TEXT_CHARS
    text = ("Experts take turns. " * 10).strip() + "\n" + ("Routers pick the top k. " * 8).strip()
    assert 300 < len(text) <= MAX_TEXT_CHARS
    for page in ("/", "/variants"):
        recipe, arguments, warnings = view_call(View(page, {"text": text}, "long text"))
        assert arguments["text"] == text and warnings == [], (page, warnings)
