"""The lesson a session holds, and the bar that plays it on every page: view i of n, Prev / Next, the notes.

    current_lesson() -> Lesson; set_lesson(lesson); playing() -> (index, View) or None
    lesson_bar()                 # main area, top of every page (from classroom.sidebar_section)

Prev / Next open the neighbouring view exactly as its link would (lesson_views.request_view). Keys: PageDown /
PageUp, what presenter clickers send (Streamlit's button shortcuts, on hidden twins of the two buttons). Not the
arrow keys: Streamlit's shortcuts fire even while a slider or the walkthrough's step row has the focus, where the
arrows already move the control, so a teacher nudging a knob would also change the view.
"""
from __future__ import annotations

import streamlit as st

from moeviz.app.lesson_views import request_view
from moeviz.app.presenter import presenting
from moeviz.lessons.schema import Lesson, View
from moeviz.text import escape_markdown

_STATE = "_moeviz_lesson"  # session state: {"lesson": Lesson, "index": int | None (the view being played)}
DEFAULT_TITLE = "My lesson"
HIDDEN = (("lesson_key_pagedown", "next (PageDown)", 1, "PageDown"), ("lesson_key_pageup", "previous (PageUp)", -1, "PageUp"))


def _state() -> dict:
    return st.session_state.setdefault(_STATE, {"lesson": Lesson(DEFAULT_TITLE), "index": None})


def current_lesson() -> Lesson:
    return _state()["lesson"]


def set_lesson(lesson: Lesson, index: int | None = None) -> None:
    state = _state()
    state["lesson"] = lesson
    state["index"] = None if index is None or not lesson.views else max(0, min(index, len(lesson.views) - 1))


def playing() -> tuple[int, View] | None:
    """(index, view) of the view being played, or None."""
    state = _state()
    index = state["index"]
    if index is None or not 0 <= index < len(state["lesson"].views):
        return None
    return index, state["lesson"].views[index]


def go_to_view(index: int) -> None:
    """A callback: play view `index` of the lesson (it opens on the next run, as its link would)."""
    lesson = current_lesson()
    if not 0 <= index < len(lesson.views):
        return
    _state()["index"] = index
    request_view(lesson.views[index])


def stop_playing() -> None:
    _state()["index"] = None


def lesson_bar() -> None:
    """The bar: Prev, "view i of n · title", Next; below, the talking points (folded in presenter mode)."""
    lesson = current_lesson()
    now = playing()
    if not lesson.views or now is None:
        return
    index, view = now
    n = len(lesson.views)
    with st.container(key="lesson_bar", border=True):
        prev_col, title_col, next_col = st.columns([1.3, 6, 1.3], vertical_alignment="center")
        prev_col.button("← Prev", key="lesson_prev", on_click=go_to_view, args=(index - 1,), disabled=index == 0,
                        width="stretch", help="Previous view of the lesson (key: PageUp)")
        next_col.button("Next →", key="lesson_next", on_click=go_to_view, args=(index + 1,), type="primary",
                        disabled=index == n - 1, width="stretch", help="Next view of the lesson (key: PageDown)")
        title_col.markdown(f"**View {index + 1} of {n}** · {_inline(view.title)}")
        if view.notes.strip():  # one folded row on a projector, open on a laptop
            with st.expander("Talking points", icon=":material/notes:", expanded=not presenting()):
                st.markdown(view.notes)  # Markdown, never HTML (st.markdown escapes it)
        # The keys, on twins of Prev / Next kept out of sight: one button takes one shortcut, and a shortcut
        # shown on the visible buttons would crowd out their labels in a narrow column.
        for key, label, step, shortcut in HIDDEN:
            st.button(label, key=key, on_click=go_to_view, args=(index + step,),
                      disabled=not 0 <= index + step < n, shortcut=shortcut)
    st.html("<style>" + " ".join(f".st-key-{key} {{ display: none !important; }}" for key, *_ in HIDDEN)
            + "</style>")


def _inline(text: str) -> str:
    """A title inside bold Markdown: one line, no Markdown of its own."""
    return escape_markdown(" ".join(text.split()))
