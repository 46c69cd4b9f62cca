"""/heatmap's text box and its example texts, shared by the moeviz language model's view and the checkpoints'."""
from __future__ import annotations

import streamlit as st

from moeviz.app.params import parse_text
from moeviz.app.presenter import locked
from moeviz.app.url import url_value
from moeviz.lm.analysis import MAX_CHARS

DEFAULT_TEXT = 'The "for" statement repeats its suite for each item:\n   for i in range(3): print(i)'
EXAMPLE_TEXTS = {  # the example picker's texts (not moeviz.presets' classroom presets)
    "Prose and a line of code": DEFAULT_TEXT,
    "Plain English": "The weather was calm, so we walked along the river and talked about old friends.",
    "Python code": "   def area(width, height):\n       return width * height\n\n   print(area(3, 4))",
    "Docs sentence": "An iterator is created for the result of the expression, and the suite is executed once "
                     "for each item provided by the iterator.",
    "HTML markup": '<p>Press <kbd>Ctrl</kbd>+<kbd>S</kbd> to <a href="#save">save the file</a>.</p>',
    "Other scripts and emoji": "Routing 🙂 works on bytes: مرحبا بالعالم, 你好, Ünïcödé.",
}
CUSTOM = "(your own text)"


def _use_preset() -> None:
    choice = st.session_state["preset"]
    if choice in EXAMPLE_TEXTS:
        st.session_state["text"] = EXAMPLE_TEXTS[choice]


def text_box(help: str) -> str:
    """The example picker and the "Text to route" area (URL key `text`); returns the text as typed."""
    # Set the box's value through session state every run: a "text" left by another page's widget (the
    # walkthrough's text_input) would otherwise come back empty here, and the presets need to write into the box.
    st.session_state["text"] = st.session_state["text"] if "text" in st.session_state else \
        url_value("text", DEFAULT_TEXT, parse_text(MAX_CHARS, multiline=True))
    st.selectbox("Example texts", [CUSTOM, *EXAMPLE_TEXTS], key="preset", on_change=_use_preset, disabled=locked("text"))
    return st.text_area("Text to route", key="text", height=100, disabled=locked("text"), help=help)
