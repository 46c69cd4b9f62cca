"""The walkthrough page's parts: pick a token, answer in plain words, and step through the six steps.

The stepper is a fragment: Prev / Next / a step name rerun only the fragment, with the numbers the full run
handed it, so changing step rebuilds nothing and recomputes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from moeviz.app.params import MAX_SEED, parse_choice, parse_flag, parse_int, parse_text
from moeviz.app.presenter import locked
from moeviz.app.runners import dense_for
from moeviz.app.steps import STEPS, show_misreading
from moeviz.app.url import set_url_value, url_value
from moeviz.text import DEFAULT_SENTENCE, MAX_TOKENS, escape_markdown, split_tokens
from moeviz.walkthrough import SOURCES, STEP_NAMES, WalkthroughRun, answer, token_view

MAX_TEXT_CHARS = 300
SOURCE_LABELS = {"sentence": "Words of a sentence", "random": "Random vectors"}


@dataclass(frozen=True)
class TokenSource:
    source: str  # "sentence" or "random"
    text: str  # the sentence (kept even while random vectors are shown)
    vector_seed: int


def pick_source() -> TokenSource:
    """Where the tokens come from: a sentence (text box) or seeded random vectors."""
    c1, c2 = st.columns([1, 3])
    source = c1.radio("Tokens from", SOURCES, format_func=SOURCE_LABELS.get, key="source",
                      index=SOURCES.index(url_value("source", "sentence", parse_choice(SOURCES))))
    text = url_value("text", DEFAULT_SENTENCE, parse_text(MAX_TEXT_CHARS))
    vector_seed = url_value("vector_seed", 0, parse_int(0, MAX_SEED))
    if source == "sentence":
        text = c2.text_input("Sentence", value=text, max_chars=MAX_TEXT_CHARS, key="text", disabled=locked("text"),
                             help=f"Split into words and punctuation; the first {MAX_TOKENS} tokens are used.")
        if not split_tokens(text):
            st.warning("That sentence has no words to route; using the example sentence instead.")
            text = DEFAULT_SENTENCE
    else:
        vector_seed = int(c2.number_input("Vector seed", 0, MAX_SEED, value=vector_seed, step=1, key="vector_seed",
                                          help="Draws 8 random token vectors that carry no word at all."))
    for key, value in (("source", source), ("text", text), ("vector_seed", vector_seed)):
        set_url_value(key, value)
    return TokenSource(source, text, vector_seed)


def pick_token(labels) -> int:
    """Which token to follow: one pill per token; the link's `token` picks the start."""
    T = len(labels)
    start = min(url_value("token", 0, parse_int(0, MAX_TOKENS - 1)), T - 1)
    token = st.pills("Token to follow", list(range(T)), default=start, required=True, key="token",
                     disabled=locked("token"),
                     format_func=lambda t: escape_markdown(labels[t]))
    token = start if token is None else int(token)
    set_url_value("token", token)
    return token


def show_answer(run: WalkthroughRun, token: int, controls) -> None:
    """The page's question, answered for the chosen token."""
    view = token_view(run.trace, token, run.labels)
    with st.container(border=True):
        st.markdown("**Which experts actually run for this token, and with what weight?**")
        st.markdown(answer(view, controls.num_experts, controls.router))


def _go_to(step: int) -> None:
    st.session_state["step"] = step  # a callback runs before the widgets, so it may set the control's state


@st.fragment
def stepper(run: WalkthroughRun, token: int, controls, source: TokenSource, dense=None) -> None:
    """Six steps with a row of step names, Prev / Next and "step i / 6"; the step lives in the link.

    `dense`: a no-argument callable giving the misreading's DenseRun when `run` is not the sidebar's random layer
    (the trained language model's layer); by default the random layer's run is used."""
    if "step" not in st.session_state:
        st.session_state["step"] = url_value("step", 1, parse_int(1, len(STEPS)))
    step_locked = locked("step")
    st.segmented_control("Step", list(range(1, len(STEPS) + 1)), key="step", required=True, width="stretch",
                         disabled=step_locked,
                         format_func=lambda i: f"{i} · {STEP_NAMES[i - 1]}", label_visibility="collapsed")
    step = int(st.session_state["step"] or 1)
    set_url_value("step", step)
    prev_col, title_col, next_col = st.columns([1, 6, 1], vertical_alignment="center")
    prev_col.button("← Prev", key="prev_step", on_click=_go_to, args=(step - 1,), disabled=step_locked or step == 1,
                    width="stretch")
    next_col.button("Next →", key="next_step", on_click=_go_to, args=(step + 1,),
                    disabled=step_locked or step == len(STEPS), width="stretch", type="primary")
    # An h2: it follows the page's h1 (a screen reader's outline must not skip a level); style.py keeps it small.
    title_col.container(key="step_title").markdown(f"## Step {step} / {len(STEPS)} · {STEP_NAMES[step - 1]}")
    view = token_view(run.trace, token, run.labels)
    STEPS[step - 1](run, view, controls)
    st.divider()
    shown = st.toggle("Show the misreading: what if every expert voted on every token?", key="misreading",
                      value=url_value("misreading", False, parse_flag))
    set_url_value("misreading", shown)
    if shown:
        dense_run = dense() if dense is not None else dense_for(controls, source.source, source.text,
                                                                source.vector_seed)
        show_misreading(run, dense_run, view)
