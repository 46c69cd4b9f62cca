"""Authoring a lesson in the sidebar: add the view on screen, edit a view's title and notes, move, delete;
save (download), open (upload, or by name from the server's folders) and the hand-outs.

Opening by name follows the checkpoint folders' rule (moeviz.lessons.folders): the widget offers the listed
names and sends one back; no link or upload ever names a server path.
"""
from __future__ import annotations

import re
from dataclasses import replace
from functools import partial
from urllib.parse import urlsplit

import nbformat
import streamlit as st

from moeviz.app.lesson_bar import current_lesson, go_to_view, playing, set_lesson, stop_playing
from moeviz.app.lesson_views import capture_view, current_page_url, lesson_results, page_for_url
from moeviz.lessons.folders import ENV_VAR, available_lessons, open_lesson
from moeviz.lessons.handout import lesson_html, lesson_notebook
from moeviz.lessons.schema import MAX_LESSON_BYTES, MAX_NOTES_CHARS, MAX_TITLE_CHARS, MAX_VIEWS, LessonError, \
    dump_lesson, load_lesson
from moeviz.text import escape_markdown

_MESSAGE = "_moeviz_lesson_message"  # (kind, text) to show once, after a callback


def _say(kind: str, text: str) -> None:
    st.session_state[_MESSAGE] = (kind, text)


def _add_view() -> None:
    lesson = current_lesson()
    if len(lesson.views) >= MAX_VIEWS:
        _say("warning", f"A lesson holds at most {MAX_VIEWS} views.")
        return
    page = page_for_url(current_page_url())
    title = (st.session_state.get("lesson_new_title") or "").strip() or (page.label if page else "View")
    set_lesson(lesson.with_views([*lesson.views, capture_view(title[:MAX_TITLE_CHARS])]), _playing_index())
    st.session_state["lesson_new_title"] = ""
    _say("success", f"Added view {len(lesson.views) + 1}: {title[:MAX_TITLE_CHARS]}.")


def _playing_index() -> int | None:
    now = playing()
    return now[0] if now else None


def _move(index: int, step: int) -> None:
    views = list(current_lesson().views)
    target = index + step
    if 0 <= target < len(views):
        views[index], views[target] = views[target], views[index]
        set_lesson(current_lesson().with_views(views), _playing_index())
        st.session_state["lesson_pick"] = target


def _delete(index: int) -> None:
    views = list(current_lesson().views)
    del views[index]
    set_lesson(current_lesson().with_views(views), _playing_index())
    st.session_state["lesson_pick"] = max(0, min(index, len(views) - 1))


def _edit(index: int) -> None:
    views = list(current_lesson().views)
    title = (st.session_state.get("lesson_edit_title") or "").strip() or views[index].title
    views[index] = replace(views[index], title=title[:MAX_TITLE_CHARS],
                           notes=(st.session_state.get("lesson_edit_notes") or "")[:MAX_NOTES_CHARS])
    set_lesson(current_lesson().with_views(views), _playing_index())
    _say("success", f"Saved view {index + 1}.")


def _rename() -> None:
    title = (st.session_state.get("lesson_title") or "").strip()
    if title:
        set_lesson(replace(current_lesson(), title=title[:MAX_TITLE_CHARS]), _playing_index())


def _opened(lesson, source: str) -> None:
    set_lesson(lesson)
    st.session_state["lesson_pick"] = 0
    _say("success", f"Opened “{escape_markdown(lesson.title)}” ({len(lesson.views)} views) from {source}. "
                    "Play it with “Start the lesson”.")


def _open_upload() -> None:
    upload = st.session_state.get("lesson_upload")
    if upload is None:
        return
    try:
        _opened(load_lesson(upload.getvalue()), "the uploaded file")
    except LessonError as problem:
        _say("error", f"That file is not a lesson moeviz can open: {escape_markdown(str(problem))}")


def _open_named() -> None:
    try:
        _opened(open_lesson(st.session_state.get("lesson_named"), available_lessons()), "the server's lessons")
    except LessonError as problem:
        _say("error", escape_markdown(str(problem)))


def file_name(title: str, suffix: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-").lower()[:60] or "lesson"
    return f"{stem}{suffix}"


def _base_url() -> str:
    parts = urlsplit(st.context.url or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""


def _handout_html(lesson, base: str) -> str:
    return lesson_html(lesson, lesson_results(lesson), base_url=base)


def _handout_notebook(lesson, base: str) -> str:
    return nbformat.writes(lesson_notebook(lesson, lesson_results(lesson), base_url=base))


def _pick_view(lesson) -> None:
    """One view at a time: its title and notes to edit, and where it sits."""
    n = len(lesson.views)
    if st.session_state.get("lesson_pick", 0) >= n:
        st.session_state["lesson_pick"] = n - 1
    index = st.selectbox("View", range(n), key="lesson_pick",
                         format_func=lambda i: f"{i + 1} · {lesson.views[i].title} ({lesson.views[i].page})")
    view = lesson.views[index]
    st.session_state["lesson_edit_title"] = view.title
    st.session_state["lesson_edit_notes"] = view.notes
    with st.form("lesson_edit_form", border=False):
        st.text_input("Title", key="lesson_edit_title", max_chars=MAX_TITLE_CHARS)
        st.text_area("Talking points (Markdown)", key="lesson_edit_notes", max_chars=MAX_NOTES_CHARS, height=120)
        st.form_submit_button("Save the notes", on_click=_edit, args=(index,))
    up, down = st.columns(2)
    go, delete = st.columns(2)
    up.button("Up", key="lesson_up", icon=":material/arrow_upward:", help="Move up", on_click=_move,
              args=(index, -1), disabled=index == 0)
    down.button("Down", key="lesson_down", icon=":material/arrow_downward:", help="Move down", on_click=_move,
                args=(index, 1), disabled=index == n - 1)
    go.button("Show", key="lesson_go", icon=":material/play_arrow:", help="Show this view", on_click=go_to_view,
              args=(index,))
    delete.button("Delete", key="lesson_delete", icon=":material/delete:", help="Delete this view", on_click=_delete,
                  args=(index,))


def lesson_editor() -> None:
    """The sidebar's Lesson expander."""
    lesson = current_lesson()
    # A constant label: the expander stays as the teacher left it across reruns (a new label is a new expander).
    with st.expander("Lesson", icon=":material/school:"), st.container(key="lesson_panel"):
        st.caption(f"“{escape_markdown(lesson.title)}”: {len(lesson.views)} views")
        message = st.session_state.pop(_MESSAGE, None)
        if message:
            getattr(st, message[0])(message[1])
        st.text_input("Title for the view on screen (optional)", key="lesson_new_title", max_chars=MAX_TITLE_CHARS)
        st.button("Add this view to the lesson", key="lesson_add", on_click=_add_view, icon=":material/add:",
                  width="stretch")
        if lesson.views:
            if playing() is None:
                st.button("Start the lesson", key="lesson_start", on_click=go_to_view, args=(0,), type="primary",
                          icon=":material/play_arrow:", width="stretch")
            else:
                st.button("Stop the lesson", key="lesson_stop", on_click=stop_playing, icon=":material/stop_circle:",
                          width="stretch", help="Hide the lesson bar; the page stays as it is.")
            _pick_view(lesson)
        st.session_state["lesson_title"] = lesson.title
        st.text_input("Lesson title", key="lesson_title", max_chars=MAX_TITLE_CHARS, on_change=_rename)
        _files(lesson)


def _files(lesson) -> None:
    base = _base_url()
    if lesson.views:
        st.download_button("Save (download the lesson file)", dump_lesson(lesson), file_name(lesson.title, ".json"),
                           mime="application/json", key="lesson_save", on_click="ignore", icon=":material/save:",
                           width="stretch")
        st.download_button("Hand-out (HTML)", partial(_handout_html, lesson, base), file_name(lesson.title, ".html"),
                           mime="text/html", key="lesson_html", on_click="ignore", icon=":material/description:",
                           width="stretch")
        st.download_button("Notebook (.ipynb)", partial(_handout_notebook, lesson, base),
                           file_name(lesson.title, ".ipynb"), mime="application/x-ipynb+json", key="lesson_notebook",
                           on_click="ignore", icon=":material/code:", width="stretch")
    st.file_uploader("Open a lesson file", type=["json"], key="lesson_upload", on_change=_open_upload,
                     max_upload_size=max(1, MAX_LESSON_BYTES >> 20),
                     help=f"A lesson saved by moeviz (JSON, at most {MAX_LESSON_BYTES >> 10} KiB).")
    names = list(available_lessons())
    if names:
        st.selectbox("Or open one of the server's lessons", names, key="lesson_named",
                     help=f"The lessons shipped with moeviz and those in the server's {ENV_VAR} folders.")
        st.button("Open", key="lesson_open_named", on_click=_open_named, icon=":material/folder_open:")
