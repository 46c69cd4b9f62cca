"""Hand-outs of a lesson: one offline HTML file, and a Jupyter notebook that recomputes every view.

    results = [ViewResult("walkthrough", {...arguments...}, numbers), ...]   # one per view, from the app
    html_text = lesson_html(lesson, results, base_url="http://host:8501")
    notebook = lesson_notebook(lesson, results)                          # nbformat v4; nbformat.writes(notebook)

A ViewResult holds what a view showed: the recipe (moeviz.lessons.recipes) the app picked for its page, the
arguments its link parsers gave, and the numbers the recipe returned. The HTML prints those numbers with a
figure of the load per expert (plotly.js inlined once: opens offline); the notebook copies each recipe used
into a cell and calls it with the same arguments, so executing it prints the same numbers. Notes are the
teacher's Markdown: escaped in HTML (never markup), and kept as text in the notebook's Markdown cells with
HTML made inert.
"""
from __future__ import annotations

import html
import inspect
import json
from dataclasses import dataclass

from moeviz.lessons.recipes import RECIPE_TITLES, RECIPES, number_words
from moeviz.lessons.schema import Lesson, Question, View

NUMBERS_MARK = "MOEVIZ_NUMBERS "  # each view's code cell prints this, then the numbers as JSON (tests read it)


@dataclass(frozen=True)
class ViewResult:
    recipe: str  # a key of RECIPES
    arguments: dict  # the recipe's keyword arguments (numbers, text, None)
    numbers: dict  # what RECIPES[recipe](**arguments) returned


def question_text(question: Question | None, numbers: dict) -> tuple[str, str] | None:
    """(prompt, answer) of a view's question, as plain text: the quiz's own, or the view's real number."""
    if question is None:
        return None
    if question.type == "quiz":
        from moeviz.quiz import make_question
        q = make_question(question.q, question.kind)
        answer = q.answer if not isinstance(q.answer, tuple) else ", ".join(f"E{e}" for e in q.answer) or "none"
        return q.prompt, f"{answer}"
    value = numbers.get(question.answer, "(not among this view's numbers)")
    return question.prompt, f"{value}"


def _numbers_table(numbers: dict) -> str:
    rows = "".join(f"<tr><th scope='row'>{html.escape(number_words(str(k)))}</th>"
                   f"<td>{html.escape(_shown(v))}</td></tr>" for k, v in numbers.items())
    return f"<table>{rows}</table>"


def _shown(value) -> str:
    return ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def _figure(numbers: dict, include_js: bool) -> str:
    load = numbers.get("tokens_per_expert")
    if not load:
        return ""
    import plotly.graph_objects as go
    from moeviz.figures.routing import expert_load_bars
    # Rebuilt with Plotly's validation, as moeviz.export does: moeviz.figures leaves the template unresolved.
    fig = go.Figure(expert_load_bars(load, capacity=numbers.get("capacity")).to_dict())
    return fig.to_html(full_html=False, include_plotlyjs=include_js, config={"displaylogo": False, "staticPlot": True})


def _view_html(number: int, view: View, result: ViewResult, base_url: str, include_js: bool) -> str:
    link = view.link(base_url)
    parts = [f"<section><h2>{number} · {html.escape(view.title)}</h2>",
             f"<p>Open it: <a href=\"{html.escape(link, quote=True)}\">{html.escape(link)}</a></p>"]
    if view.notes.strip():
        parts.append(f"<div class='notes'>{html.escape(view.notes)}</div>")
    parts.append(f"<h3>{html.escape(RECIPE_TITLES[result.recipe])}</h3>{_numbers_table(result.numbers)}")
    parts.append(_figure(result.numbers, include_js))
    asked = question_text(view.question, result.numbers)
    if asked:
        parts.append(f"<p><strong>Predict:</strong> {html.escape(asked[0])}</p>"
                     f"<details><summary>Reveal</summary><p>{html.escape(asked[1])}</p></details>")
    return "".join(parts) + "</section>"


def lesson_html(lesson: Lesson, results: list[ViewResult], base_url: str = "") -> str:
    """One self-contained HTML page: every view's title, link, notes, numbers and load figure, offline."""
    if len(results) != len(lesson.views):
        raise ValueError("one result per view")
    with_figure = [i for i, r in enumerate(results) if r.numbers.get("tokens_per_expert")]
    sections = [_view_html(i + 1, view, result, base_url, include_js=bool(with_figure) and i == with_figure[0])
                for i, (view, result) in enumerate(zip(lesson.views, results))]
    style = ("body{font-family:sans-serif;max-width:60rem;margin:auto;padding:1rem;color:#0B1117}"
             ".notes{white-space:pre-wrap;background:#F3F5F8;padding:.5rem 1rem;border-radius:.3rem}"
             "table{border-collapse:collapse}th,td{border:1px solid #C9CED6;padding:.2rem .5rem;text-align:left}"
             "section{break-inside:avoid;margin-bottom:2rem}")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(lesson.title)}</title><style>{style}</style></head><body>"
            f"<h1>{html.escape(lesson.title)}</h1>"
            "<p>Every number below was computed by moeviz's PyTorch code for the view's settings.</p>"
            f"{''.join(sections)}</body></html>")


def _inert_markdown(text: str) -> str:
    """Markdown kept, HTML made inert (a notebook renders raw HTML in Markdown cells)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def lesson_notebook(lesson: Lesson, results: list[ViewResult], base_url: str = ""):
    """An nbformat v4 notebook: the recipes used, then per view its notes and one cell that recomputes it and
    prints its numbers (a line NUMBERS_MARK + JSON)."""
    import nbformat.v4 as nbf

    if len(results) != len(lesson.views):
        raise ValueError("one result per view")
    cells = [nbf.new_markdown_cell(f"# {_inert_markdown(lesson.title)}\n\nEvery view of the lesson, recomputed "
                                   "with moeviz's library calls. Run all cells from the moeviz folder (or with moeviz "
                                   "installed); nothing downloads."),
             nbf.new_code_cell("import json")]
    for name in dict.fromkeys(r.recipe for r in results):
        cells.append(nbf.new_markdown_cell(f"### How: {_inert_markdown(RECIPE_TITLES[name])}"))
        cells.append(nbf.new_code_cell(inspect.getsource(RECIPES[name]).strip()))
    for i, (view, result) in enumerate(zip(lesson.views, results), start=1):
        text = f"## {i} · {_inert_markdown(view.title)}\n\n[Open this view]({view.link(base_url)})"
        if view.notes.strip():
            text += "\n\n" + _inert_markdown(view.notes)
        asked = question_text(view.question, result.numbers)
        if asked:
            text += f"\n\n**Predict:** {_inert_markdown(asked[0])}"
        cells.append(nbf.new_markdown_cell(text))
        arguments = ", ".join(f"{k}={v!r}" for k, v in result.arguments.items())
        cells.append(nbf.new_code_cell(f"numbers = {RECIPES[result.recipe].__name__}({arguments})\n"
                                       f"print({NUMBERS_MARK!r} + json.dumps(numbers))\nnumbers"))
    notebook = nbf.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def printed_numbers(executed_notebook) -> list[dict]:
    """The numbers an executed notebook printed, one dict per view, in order."""
    found = []
    for cell in executed_notebook.cells:
        for output in cell.get("outputs", []):
            for line in str(output.get("text", "")).splitlines():
                if line.startswith(NUMBERS_MARK):
                    found.append(json.loads(line[len(NUMBERS_MARK):]))
    return found


__all__ = ["ViewResult", "lesson_html", "lesson_notebook", "printed_numbers", "question_text", "NUMBERS_MARK"]
