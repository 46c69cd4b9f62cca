"""A lesson view in the app: taken from the page on screen, set exactly as its link would, and its numbers.

    view = capture_view(title)        # in a callback: the current page and its link's parameters, as shared
    request_view(view)                # from a callback or a fragment: open `view` on the next full run
    open_requested_view()             # at the top of every run (classroom.sidebar_section): goes there
    view_call(view) -> (recipe, arguments, warnings)   # the view's numbers' recipe, read with the link parsers

Opening a view forgets this session's link state (the shared controls, page values, their widgets) and switches
to the view's page with the view's query parameters, so every value is read by the same parsers, in the same
order, as when a visitor opens the view's share link in a new tab.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.source_util import page_icon_and_name
from streamlit.util import calc_hash

from moeviz.app.nav import PAGES
from moeviz.app.page_timers import forget_page_timers
from moeviz.app.params import (MAX_SEED, SHARED_KEYS, ParamError, capacity_value, parse_choice, parse_flag, parse_int,
                               parse_int_choice, parse_text, read_param, read_shared)
from moeviz.app.compute_page import D_HIDDEN as COMPUTE_D_HIDDEN, D_MODEL as COMPUTE_D_MODEL
from moeviz.app.parallel_page import TOKEN_COUNTS
from moeviz.app.textbox import MAX_TEXT_CHARS
from moeviz.app.url import _LOCAL, _SHARED
from moeviz.config import DROP_POLICIES, RENAMED_DROP_POLICIES
from moeviz.lessons.handout import ViewResult
from moeviz.lessons.recipes import RECIPES
from moeviz.lessons.schema import Lesson, Question, View
from moeviz.text import DEFAULT_SENTENCE, MAX_TOKENS
from moeviz.variants import DEFAULT_BIAS_STEPS, MAX_BIAS_STEPS
from moeviz.walkthrough import SOURCES

PRESENTER_KEYS = ("present", "hide", "lock")
PRESENTER_WIDGETS = ("presenter_on", "presenter_hide", "presenter_lock")
_REQUESTED = "_moeviz_requested_view"  # session state: the view to open on the next full run
# Link values the recipes read, with the parsers and bounds their pages use: the bounds are the pages' own
# constants (the shipped-lesson tests open every view on its page too).


def page_for_url(url: str):
    """The PageInfo of a page's URL path ("/", "/heatmap"), or None."""
    return next((page for page in PAGES if page.url == url), None)


def current_page_url() -> str:
    """The URL path of the page this run (or fragment, or callback) belongs to: the served app's page registry
    names its file; where there is none (AppTest), the page's hash is its file name's, as Streamlit computes it."""
    ctx = get_script_run_ctx()
    if ctx is None:
        return "/"
    info = ctx.pages_manager.get_pages().get(ctx.page_script_hash)
    if info and info.get("script_path"):
        name = Path(info["script_path"]).name
        return next((page.url for page in PAGES if Path(page.path).name == name), "/")
    return next((page.url for page in PAGES
                 if calc_hash(page_icon_and_name(Path(page.path))[1]) == ctx.page_script_hash), "/")


def current_params() -> dict[str, str]:
    """This view's link parameters as a share link carries them (the link is complete once a run has ended:
    callbacks and fragments read it then)."""
    return {key: st.query_params.get_all(key)[-1] for key in st.query_params.keys() if key != "room"}


def capture_view(title: str, notes: str = "", question: Question | None = None) -> View:
    return View(page=current_page_url(), params=current_params(), title=title, notes=notes, question=question)


def request_view(view: View, extra: dict[str, str] | None = None, drop=()) -> None:
    """Open `view` on the next full run (plus `extra` parameters, without the keys in `drop`)."""
    params = {k: v for k, v in view.params.items() if k not in drop}
    st.session_state[_REQUESTED] = (view.page, {**params, **(extra or {})})


def open_requested_view() -> None:
    """If a view was requested, forget the link state and switch to it (st.switch_page ends this run)."""
    requested = st.session_state.pop(_REQUESTED, None)
    if requested is None:
        return
    page_url, params = requested
    page = page_for_url(page_url)
    if page is None:
        st.warning(f"This lesson's view is on a page this app does not have ({page_url[:40]}).",
                   icon=":material/link_off:")
        return
    local = st.session_state.get(_LOCAL, {})
    # The page's widgets start again from the link, as in a new tab. The shared controls' widgets are left
    # alone: they take their state from the shared values on every run (controls.bound), and deleting the
    # state of a widget with an on_change callback makes Streamlit call it with no state on the next run.
    for key in {*params, *local, *PRESENTER_WIDGETS, "q", "step"} - set(SHARED_KEYS):
        st.session_state.pop(key, None)
    st.session_state.pop(_SHARED, None)
    st.session_state[_LOCAL] = {}
    forget_page_timers()  # a late tick of this page's timers would undo the switch (moeviz.app.page_timers)
    st.switch_page(page.path, query_params=params)


def _reader(view: View, warnings: list):
    def value(key, default, parse):
        result = read_param(key, [view.params[key]] if key in view.params else [], parse, default)
        if result.warning:
            warnings.append(result.warning)
        return result.value
    return value


def view_call(view: View) -> tuple[str, dict, list[str]]:
    """(recipe name, its arguments, warnings) for the view's numbers, its link read by the link parsers."""
    shared, warnings = read_shared(lambda key: [view.params[key]] if key in view.params else [])
    value = _reader(view, warnings)
    base = {"num_experts": shared["num_experts"], "top_k": shared["top_k"], "router": shared["router"],
            "capacity_factor": capacity_value(shared["capacity_factor"]), "seed": shared["seed"]}
    def sentence():
        return value("text", DEFAULT_SENTENCE, parse_text(MAX_TEXT_CHARS, multiline=True))  # as textbox reads it

    # a walkthrough link with `trained` but no `model` predates olmoe-tiny and shows moeviz-lm (trained_source)
    walk_model = "moeviz-lm" if "trained" in view.params and "model" not in view.params else view.params.get("model", "olmoe-tiny")
    if view.page == "/":
        return "walkthrough", {**base, "source": value("source", "sentence", parse_choice(SOURCES)), "text": sentence(),
                               "vector_seed": value("vector_seed", 0, parse_int(0, MAX_SEED)),
                               "token": value("token", 0, parse_int(0, MAX_TOKENS - 1)),
                               "trained": value("trained", True, parse_flag),
                               "lm_layer": value("lm_layer", 0, parse_int(0, 63)), "model": walk_model}, warnings
    if view.page == "/parallel":
        policy = value("drop_policy", "position", parse_choice(DROP_POLICIES, RENAMED_DROP_POLICIES))
        return "capacity", {**base, "drop_policy": policy,
                            "tokens": value("tokens", 32, parse_int_choice(TOKEN_COUNTS))}, warnings
    if view.page == "/compute":
        return "compute", {**base, "d_model": COMPUTE_D_MODEL, "d_hidden": COMPUTE_D_HIDDEN}, warnings
    if view.page == "/variants":
        return "variants", {**{k: base[k] for k in ("num_experts", "top_k", "capacity_factor")},
                            "text": sentence(), "lm_layer": value("lm_layer", 0, parse_int(0, 63)),
                            "bias_steps": value("bias_steps", DEFAULT_BIAS_STEPS, parse_int(0, MAX_BIAS_STEPS))}, warnings
    return "layer", {**base, "text": DEFAULT_SENTENCE}, warnings


def view_result(view: View) -> ViewResult:
    """What the view shows, recomputed: its recipe, the arguments its link gives, and the numbers."""
    recipe, arguments, _ = view_call(view)
    return ViewResult(recipe, arguments, RECIPES[recipe](**arguments))


def lesson_results(lesson: Lesson) -> list[ViewResult]:
    return [view_result(view) for view in lesson.views]


__all__ = ["capture_view", "request_view", "open_requested_view", "view_call", "view_result", "lesson_results",
           "current_page_url", "current_params", "page_for_url", "PRESENTER_KEYS", "ParamError"]
