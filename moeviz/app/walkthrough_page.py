"""The walkthrough page's parts: pick a token, answer in plain words, and step through the six steps.

The stepper is a fragment: Prev / Next / a step name rerun only the fragment, with the numbers the full run
handed it, so changing step rebuilds nothing and recomputes nothing.
"""
from __future__ import annotations

import streamlit as st

from moeviz.app.lm_heatmap import LM_NAME
from moeviz.app.params import (MAX_EXPERTS, MAX_SEED, MIN_EXPERTS, parse_choice, parse_flag, parse_int, parse_text,
                                url_text)
from moeviz.app.presenter import locked, presenting
from moeviz.app.runners import TokenSource, Walkthrough
from moeviz.app.steps import STEPS, show_misreading, show_untrained_router
from moeviz.app.classroom import publish_view
from moeviz.app.url import set_url_value, url_value
from moeviz.app.textbox import MAX_TEXT_CHARS, text_box
from moeviz.hf.shipped import nearest_olmoe, shipped_olmoe
from moeviz.glossary import glossary_link
from moeviz.lm.analysis import subword_note
from moeviz.rooms import RoomError
from moeviz.text import DEFAULT_SENTENCE, MAX_TOKENS, escape_markdown
from moeviz.walkthrough import NUM_RANDOM_VECTORS, SOURCES, STEP_NAMES, WalkthroughRun, answer, token_view

SOURCE_LABELS = {"sentence": "A sentence (its tokens)", "random": "Random vectors (no words)"}
SOURCE_HELP = ("A sentence: its tokens, each with its real hidden state from the trained model (with “Trained "
               f"model” on). Random vectors: {NUM_RANDOM_VECTORS} seeded random vectors (the vector seed "
               "draws them) take the place of the hidden states and go through a layer with random weights built "
               "from the sidebar, whose router, seed and N all act. Pick them to watch the routing machinery alone: "
               "no words and no training behind the scores.")

# The misreading the page's last switch shows (the switch's help and its caption say it in the same words)
MISREADING = ("The misreading: that an MoE layer is an ensemble, every expert contributing to every token. Turned "
              "on, this switch shows the token's output computed three ways: the sparse layer; every expert run and "
              "the unchosen ones thrown away (the same output, far more work); every expert voting by its router "
              "probability (a different output).")


def pick_source():
    """Where the tokens come from: a sentence (text box) or seeded random vectors. Returns (the TokenSource, a
    third column beside them for the trained-model pickers): on one row, the step content starts ~100 px higher
    than with the pickers stacked under the text box (a reader met each step ~1000 px down at 1920 px)."""
    c1, c2, side = st.columns([1, 2.2, 1.3])
    source = c1.radio("Tokens from", SOURCES, format_func=SOURCE_LABELS.get, key="source", help=SOURCE_HELP,
                      index=SOURCES.index(url_value("source", "sentence", parse_choice(SOURCES))))
    vector_seed = url_value("vector_seed", 0, parse_int(0, MAX_SEED))
    if source == "sentence":
        text = text_box("Sentence", DEFAULT_SENTENCE, where=c2,
                        help=f"The same text box as on /heatmap and /variants. The trained model cuts it into its "
                             f"subword tokens; the walkthrough follows the first {MAX_TOKENS}.")
        if not text.strip():
            st.warning("That sentence is empty; using the example sentence instead.")
            text = DEFAULT_SENTENCE
    else:  # the sentence is kept (in the link) for when the learner switches back
        text = url_value("text", DEFAULT_SENTENCE, parse_text(MAX_TEXT_CHARS, multiline=True))
        vector_seed = int(c2.number_input("Vector seed", 0, MAX_SEED, value=vector_seed, step=1, key="vector_seed",
                                          help="Draws 8 random token vectors that carry no word at all."))
    for key, value in (("source", source), ("vector_seed", vector_seed)):
        set_url_value(key, value)
    return TokenSource(source, text, vector_seed), side


def n_note(pick) -> str | None:
    """One visible line on what the sidebar's N does to the trained default: it picks which shipped olmoe-tiny is
    shown (trained_source.pick_trained: hf.shipped.nearest_olmoe), each its own trained model. None when the
    random layer or moeviz-lm is shown (there N builds the layer)."""
    if pick is None or pick.model == LM_NAME:
        return None
    count_of = {folder.name: count for count, folder in shipped_olmoe().items()}
    ranges: dict[int, list[int]] = {}
    for n in range(MIN_EXPERTS, MAX_EXPERTS + 1):  # the slider's range, through the picker's own rule (ties too)
        ranges.setdefault(count_of[nearest_olmoe(n)[0]], []).append(n)
    spans = [f"N = {ns[0]}–{ns[-1]} shows the {count}-expert one" if len(ns) > 1 else
             f"N = {ns[0]} shows the {count}-expert one" for count, ns in sorted(ranges.items())]
    return (f"**Moving N in the sidebar** acts by switching models, not by rebuilding this layer: olmoe-tiny "
            f"ships as {len(ranges)} separately trained models, and the walkthrough switches to the one nearest your N ({'; '.join(spans)}). Another "
            "model has its own weights, so the hidden states and router scores change too.")


def pick_token(labels, note_where=None) -> int:
    """Which token to follow: one pill per token; the link's `token` picks the start. The note on subwords goes
    above the pills (they show the ␣ it explains), or into `note_where` (presenter mode: the folded header, so a
    step fits 768 px)."""
    T = len(labels)
    start = min(url_value("token", 0, parse_int(0, MAX_TOKENS - 1)), T - 1)
    note_box = st.container() if note_where is None else note_where
    token = st.pills("Token to follow", list(range(T)), default=start, required=True, key="token",
                     disabled=locked("token"), label_visibility="collapsed" if presenting() else "visible",
                     format_func=lambda t: escape_markdown(labels[t]))
    token = start if token is None else int(token)
    set_url_value("token", token)
    if note := subword_note(labels):
        note_box.caption(escape_markdown(note))
    return token


QUESTION = "Which experts actually run for this token, and with what weight?"
SHORT_QUESTION = "Which experts run for this token, with what weight?"  # fits a folded header on 1024 px


# The answer box says "experts" before step 1 does: the word, in a few words (step 1 says more, step 4 opens one)
EXPERT_WORD = (f"An {glossary_link('Expert', 'expert')} is one of the layer's small feed-forward networks (MLPs), "
               "each with its own weights; step 4 opens one.")


def show_answer(run: WalkthroughRun, token: int, folded: bool = False) -> None:
    """The page's question, answered for the chosen token (in a closed expander when `folded`)."""
    view = token_view(run.trace, token, run.labels)
    if folded:
        with st.expander(f"**{SHORT_QUESTION}**"):
            st.markdown(answer(view))
        return
    with st.container(border=True):
        st.markdown(f"**{QUESTION}**")
        st.markdown(answer(view))
        st.caption(EXPERT_WORD)


def compare_untrained(walk: Walkthrough, view) -> None:
    """Step 2's switch: the same token through the layer's router as it was before training."""
    if walk.untrained is None:
        st.caption("This layer's router has random weights: it is an untrained router. Turn on “Trained model” "
                   "above to put a trained router's scores beside an untrained one's.")
        return
    shown = st.toggle("Compare with the untrained router (same token, weights from before training)",
                      key="untrained", value=url_value("untrained", False, parse_flag))
    st.caption("Why: to see what training taught the router. Look at how much the two sets of bars differ: an "
               "untrained router usually spreads its probability more evenly; a trained one puts more on a few "
               "experts. (The “Trained model” switch at the top is another thing: off, it swaps the whole model for one "
               "layer with random weights, fed made-up word vectors. This switch keeps the trained model and the "
               "token's real hidden state, and changes only the router's weights, to the ones it started training "
               "with.)")
    set_url_value("untrained", shown)
    if shown:
        run = walk.untrained()
        show_untrained_router(view, token_view(run.trace, view.index, run.labels))


def _go_to(step: int) -> None:
    st.session_state["step"] = step  # a callback runs before the widgets, so it may set the control's state
    _step_picked()


def _step_picked() -> None:
    """A class room's students get the new step now, not after this fragment has drawn it and the room's next
    tick. Only the room hears it here: the link is written by the fragment's run (a link written from a callback
    of a fragment run stayed on the server and never reached the browser's address bar).
    Opening a lesson's or the teacher's view forgets the step's state; a late run request from the old page then
    calls this with no state (a follow test's student died of the KeyError): nothing to publish then."""
    step = st.session_state.get("step")
    if step is None:
        return
    try:
        publish_view({"step": url_text(int(step))})
    except RoomError:
        pass  # the room's own fragment says what went wrong on its next tick


@st.fragment
def stepper(walk: Walkthrough, token: int) -> None:
    """Six steps with a row of step names, Prev / Next and "step i / 6"; the step lives in the link.

    In presenter mode the rows are packed (Prev, the step names and Next on one row; the explanation folded
    beside the heading) so that a step's heading, its figure and Prev / Next fit one projector screen."""
    if "step" not in st.session_state:
        st.session_state["step"] = url_value("step", 1, parse_int(1, len(STEPS)))
    step_locked, compact = locked("step"), presenting()
    if compact:
        prev_col, names_col, next_col = st.columns([1, 7, 1], vertical_alignment="center")
    else:
        names_col = st.container()
    with names_col:
        st.segmented_control("Step", list(range(1, len(STEPS) + 1)), key="step", required=True, width="stretch",
                             disabled=step_locked, on_change=_step_picked,
                             # (presenter mode: numbers only, so the row fits 1024 px; the heading names the step)
                             format_func=str if compact else lambda i: f"{i} · {STEP_NAMES[i - 1]}",
                             label_visibility="collapsed")
    step = int(st.session_state["step"] or 1)
    set_url_value("step", step)
    if compact:
        title_col, explain_col = st.columns([1, 1], vertical_alignment="center")
    else:
        # 1.5 : 5 : 1.5, so "← Prev" and "Next →" keep their words beside a 1024-px screen's sidebar (at 1 : 6 : 1
        # they showed "← P…" and "Ne…")
        # (keyed: on a phone style.py keeps Prev and Next side by side under the heading, not three stacked rows)
        prev_col, title_col, next_col = st.container(key="step_nav").columns([1.5, 5, 1.5],
                                                                             vertical_alignment="center")
    prev_col.button("← Prev", key="prev_step", on_click=_go_to, args=(step - 1,), disabled=step_locked or step == 1,
                    width="stretch")
    next_col.button("Next →", key="next_step", on_click=_go_to, args=(step + 1,),
                    disabled=step_locked or step == len(STEPS), width="stretch", type="primary")
    heading = f"Step {step} / {len(STEPS)} · {STEP_NAMES[step - 1]}"
    if compact:  # the page's title in presenter mode (app.py leaves it out)
        title_col.title(heading, anchor=False)
    else:  # an h2: it follows the page's h1 (a screen reader's outline must not skip a level); style.py keeps it small
        title_col.container(key="step_title").markdown(f"## {heading}")
    explain = st.markdown
    if compact:
        explain = explain_col.expander("What this step shows", icon=":material/notes:").markdown
    view = token_view(walk.run.trace, token, walk.run.labels)
    STEPS[step - 1](walk.run, view, walk.controls, explain)
    if STEPS[step - 1] is STEPS[1]:  # the router scores: set the learned router beside an untrained one
        compare_untrained(walk, view)
    st.divider()
    shown = st.toggle("Show the misreading: what if every expert voted on every token?", key="misreading",
                      value=url_value("misreading", False, parse_flag), help=MISREADING)
    if not shown and not presenting():  # (presenter mode: the help keeps it; a step must fit one screen)
        st.caption(MISREADING)
    set_url_value("misreading", shown)
    if shown:
        show_misreading(walk.run, walk.dense(), view)
