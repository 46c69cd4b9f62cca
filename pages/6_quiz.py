"""Predict, then reveal (URL /quiz): questions made from real layer runs, checked against the layer."""
import streamlit as st

import moeviz.app as app
from moeviz.app.runners import quiz_question
from moeviz.figures.walkthrough import probability_range, score_bars
from moeviz.quiz import ALL_KINDS, KIND_LABELS, NONE, QUESTION_KINDS, is_blank, is_correct

MAX_QUESTION = 10**6
INTRO = ("For each question the page builds a small MoE layer of its own (not the sidebar's), with random weights "
         "(never trained) drawn from the question number, and runs it: the answer is what that layer really "
         "computes. Make your prediction, then reveal it. Question numbers are reproducible: share the link and a "
         "class sees the same question. Its experts are plain MLPs of 2 weight matrices (Mixtral's and OLMoE's have "
         "3, the gated [SwiGLU](glossary#feed-forward-mlp) form); the routing is the same.")
# What each kind of question asks, in one line: a kind's name alone ("Does every expert vote?") did not say it.
KIND_ASKS = {
    "which_experts": "Given one token's router logits, which k experts run for it?",
    "combine_weights": "Given one token's router probabilities, what weight does its top expert's output get?",
    "overflow": "Given each token's chosen expert and the capacity per expert, which experts must turn tokens away? "
                "An expert **overflows** when more tokens choose it than its capacity C (the most tokens it may "
                "take, set by the [capacity factor](glossary#capacity-factor)); the extra ones are turned away.",
    "every_expert": "Does a token go through every expert, or only its k chosen ones? Asked as: does every expert "
                    "add to this token's output (**vote**, in the question's words), or how many expert "
                    "computations does a sentence cost?",
    "alone_vs_batch": "Under expert choice, does a token get the same number of experts alone as inside a batch?",
}
# What the number box, the Next button and the kinds box do: a reader saw three controls and no word on them.
NUMBER_MEANS = ("The question number picks the question's layer and numbers. Which kind of question you get: at "
                "first the number picks that too, so question 1 can be any kind; once you change **Question kinds** "
                "above, the numbers go through your kinds in turn. **Next question** adds 1. The score below counts "
                "each question's first reveal.")
_SCORE = "_moeviz_quiz"  # session state: {"asked": set of (seed, kind) answered, "right": set of those right}


def _revealed_key(question) -> str:
    return f"revealed_{question.seed}_{question.kind}"


def _next() -> None:
    st.session_state["q"] = int(st.session_state.get("q", 1)) % MAX_QUESTION + 1


def _shown(question) -> None:
    """The numbers the learner predicts from: bars of logits/probs, or the tokens' chosen experts."""
    shown, revealed = question.shown, st.session_state.get(_revealed_key(question))
    lit = question.answer if revealed and question.answer_type == "experts" else ()
    if "logits" in shown:
        app.chart(score_bars(shown["logits"], name="router logit", title="Router logits for this token",
                             highlight=lit), key=f"quiz_logits_{question.seed}")
    elif "probs" in shown:
        lit = tuple(shown.get("kept", (shown["expert"],))) if revealed else ()  # all k kept: all in the sum
        app.chart(score_bars(shown["probs"], name="router probability", text_format=".3f",
                             title="Router probabilities for this token", highlight=lit,
                             value_range=probability_range(shown["probs"])), key=f"quiz_probs_{question.seed}")
    elif "first_choices" in shown:  # one row, a column per token: every token is on screen, none scrolls away
        st.caption("Each token's chosen expert, tokens in order:")
        st.table({f"t{t}": [f"E{e}"] for t, e in enumerate(shown["first_choices"])})


def _answer_widget(question):
    key = f"answer_{question.seed}_{question.kind}"
    if question.answer_type == "experts":
        return st.pills("Your answer: the experts", question.options, selection_mode="multi", key=key,
                        format_func=lambda e: "none" if e == NONE else f"E{e}")
    if question.answer_type == "number":
        return st.number_input("Your answer: the weight", 0.0, 1.0, value=None, step=0.01, format="%.3f", key=key)
    return st.radio("Your answer", question.options, index=None, key=key)


controls = app.sidebar("moeviz · Quiz")
st.title("Predict, then reveal")
st.caption(INTRO)

score = st.session_state.setdefault(_SCORE, {"asked": set(), "right": set(), "blank": set()})
if "q" not in st.session_state:
    st.session_state["q"] = app.url_value("q", 1, app.parse_int(1, MAX_QUESTION))
# The default is the original kinds: a number alone then draws its kind from the seed, as old links did.
kinds = st.multiselect("Question kinds", ALL_KINDS, format_func=KIND_LABELS.get, key="quiz_kinds",
                       default=list(app.url_value("quiz_kinds", QUESTION_KINDS, app.parse_choices(ALL_KINDS))),
                       help=" ".join(f"{KIND_LABELS[k]} {KIND_ASKS[k]}" for k in ALL_KINDS) +
                            " “Alone or in a batch?” (routing at inference) is not in the default mix; add it "
                            "here.")
kinds = [k for k in ALL_KINDS if k in kinds]  # in a fixed order, so a question number means the same anywhere
if kinds:
    app.set_url_value("quiz_kinds", tuple(kinds))
left, right = st.columns([3, 1])
with left:
    seed = int(st.number_input("Question number", 1, MAX_QUESTION, step=1, key="q"))
with right:
    st.button("Next question", on_click=_next, icon=":material/skip_next:", width="stretch")
app.set_url_value("q", seed)
st.caption(NUMBER_MEANS)
if not kinds:
    st.info("Pick at least one kind of question.")
    app.finish_page()
    st.stop()

kind = None if tuple(kinds) == QUESTION_KINDS else kinds[seed % len(kinds)]
question = quiz_question(seed, kind)
st.header(KIND_LABELS[question.kind])
st.caption(f"This kind of question asks: {KIND_ASKS[question.kind]}")
app.layer_line(question.cfg, trained=False, note="This question's own small layer, drawn from the question number")
st.markdown(question.prompt)
# The numbers on the left, the answer and the verdict on the right: after Reveal the verdict appears next to
# the button that was clicked, not below the fold.
if "first_choices" in question.shown:  # a table of every token's choice needs the full width
    _shown(question)
    answer_col = st.container()
else:
    shown_col, answer_col = st.columns([3, 2], gap="medium")
    with shown_col:
        _shown(question)
verdict = answer_col.container()  # above the form: where the learner just clicked, still on screen

with answer_col:
    with st.form(f"quiz_form_{seed}_{question.kind}"):
        response = _answer_widget(question)
        revealed = st.form_submit_button("Reveal the answer", type="primary")
if revealed:
    st.session_state[_revealed_key(question)] = True
    ident = (question.seed, question.kind)
    if ident not in score["asked"]:  # the first reveal counts; revealing again does not change the score
        score["asked"].add(ident)
        if is_correct(question, response):
            score["right"].add(ident)
        elif is_blank(question, response):  # nothing typed or picked ("none" is an answer, not a blank)
            score["blank"].add(ident)
    st.rerun()

if st.session_state.get(_revealed_key(question)):
    ident = (question.seed, question.kind)
    with verdict:
        if ident in score["right"]:
            st.success("Right: that is what the layer computed.", icon=":material/check_circle:")
        elif ident in score["blank"]:
            st.info("Revealed without a prediction. Here is what the layer computed:", icon=":material/visibility:")
        else:
            st.error("Not what the layer computed. Here is why:", icon=":material/cancel:")
        st.markdown(question.explanation)

st.divider()
st.metric("Score this session", f"{len(score['right'])} / {len(score['asked'])}")

app.finish_page()
