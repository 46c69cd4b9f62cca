"""The one text box: every page that routes text (/, /heatmap, /variants) draws it with this helper.

One widget key and URL key (`text`), one length limit, one parser: the same text travels from page to page and
gives the same tokens on each (the pages route it through the same tokenizer). Why the value is set through
session state every run: a page change leaves the previous page's widget state behind, and a box created there
with another widget type (a text input vs a text area) would come back empty otherwise.
"""
from __future__ import annotations

import streamlit as st

from moeviz.app.params import parse_text
from moeviz.app.presenter import locked
from moeviz.app.url import set_url_value, url_value

KEY = "text"
MAX_TEXT_CHARS = 2000  # what the server accepts on every page; a model reads it in windows of its context


def _preset_chosen(presets: dict[str, str]) -> None:
    choice = st.session_state.get("preset")
    if choice in presets:
        st.session_state[KEY] = presets[choice]


def text_box(label: str, default: str, *, help: str, multiline: bool = False,
             presets: dict[str, str] | None = None, where=None) -> str:
    """The text box (a text area when `multiline`, with an example picker when `presets`); returns the text as
    typed (possibly blank: the page says what it does then) and writes it to the link."""
    where = where or st
    current = st.session_state[KEY] if KEY in st.session_state else \
        url_value(KEY, default, parse_text(MAX_TEXT_CHARS, multiline=True))
    if not multiline:  # a one-line box: a text from a text area keeps its words apart
        current = " ".join(current.split("\n"))
    st.session_state[KEY] = current[:MAX_TEXT_CHARS]
    if presets:
        where.selectbox("Example texts", ["(your own text)", *presets], key="preset", disabled=locked(KEY),
                        on_change=_preset_chosen, args=(presets,))
    widget = where.text_area if multiline else where.text_input
    kwargs = {"height": 100} if multiline else {}
    text = widget(label, key=KEY, max_chars=MAX_TEXT_CHARS, disabled=locked(KEY), help=help, **kwargs)
    if len(text) > MAX_TEXT_CHARS:  # the browser enforces max_chars; a client that does not is cut here, saying so
        st.warning(f"Long text ({len(text):,} characters): only the first {MAX_TEXT_CHARS:,} are used, the limit "
                   "on every page.", icon=":material/content_cut:")
        text = text[:MAX_TEXT_CHARS]
    if text.strip():
        set_url_value(KEY, text)
    return text
