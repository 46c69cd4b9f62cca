"""A view's predict-then-reveal question in the app: its prompt, an answer widget, the real answer, a tally.

    asked = asked_question(view)            # Asked(id, prompt, kind, options, answer), or None
    text = answer_widget(asked, key)        # the learner's answer as canonical text ("E1, E3", "0.25", ...)
    verdict(asked, text)                    # True / False
    tally(answers)                          # [(answer, count)], most given first: the live histogram's rows

Answers travel through the room store as short canonical text, so any number of server processes count them
alike. The answer itself is the quiz's (moeviz.quiz, read from its layer's trace) or the view's real number
(moeviz.lessons.recipes, from the view's own link).
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import streamlit as st

from moeviz.app.lesson_views import view_result
from moeviz.lessons.recipes import number_words
from moeviz.lessons.schema import View
from moeviz.quiz import NONE, WEIGHT_TOLERANCE, make_question
from moeviz.text import escape_markdown

MAX_TALLY_ROWS = 12  # the histogram's rows; rarer answers are summed into "other"


@dataclass(frozen=True)
class Asked:
    question_id: str
    prompt: str  # Markdown: the quiz's own words, or the teacher's (escaped)
    kind: str  # "experts", "number" or "choice"
    options: tuple
    answer: str  # canonical text of the real answer
    explanation: str  # Markdown shown with the reveal


def experts_text(experts) -> str:
    picked = sorted(int(e) for e in experts)
    return "none" if picked in ([], [NONE]) else ", ".join(f"E{e}" for e in picked if e != NONE)


def number_text(value) -> str:
    return f"{float(value):.3g}"


def asked_question(view: View | None) -> Asked | None:
    """The view's question with its real answer (None when the view asks nothing)."""
    question = view.question if view is not None else None
    if question is None:
        return None
    if question.type == "quiz":
        q = make_question(question.q, question.kind)
        answer = experts_text(q.answer) if q.answer_type == "experts" else (
            number_text(q.answer) if q.answer_type == "number" else str(q.answer))
        return Asked(question.question_id(), q.prompt, q.answer_type, tuple(q.options), answer, q.explanation)
    numbers = view_result(view).numbers
    value = numbers.get(question.answer)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        st.warning(f"This view's question asks for “{escape_markdown(question.answer)}”, which is not one of its "
                   f"numbers ({', '.join(numbers)}).", icon=":material/help:")
        return None
    return Asked(question.question_id(), escape_markdown(question.prompt), "number", (), number_text(value),
                 f"The view's own number: **{number_text(value)}** ({escape_markdown(number_words(question.answer))}).")


def answer_widget(asked: Asked, key: str) -> str | None:
    """Draw the answer widget; the answer as canonical text, or None while nothing is given."""
    if asked.kind == "experts":
        picked = st.pills("Your prediction: the experts", asked.options, selection_mode="multi", key=key,
                          format_func=lambda e: "none" if e == NONE else f"E{e}")
        return experts_text(picked) if picked else None
    if asked.kind == "number":
        value = st.number_input("Your prediction", value=None, step=0.01, format="%.3f", key=key)
        return None if value is None or not math.isfinite(value) else number_text(value)
    choice = st.radio("Your prediction", asked.options, index=None, key=key)
    return None if choice is None else str(choice)[:80]


def verdict(asked: Asked, given: str | None) -> bool:
    if given is None:
        return False
    if asked.kind == "number":
        try:
            value, real = float(given), float(asked.answer)
        except ValueError:
            return False
        return abs(value - real) <= max(WEIGHT_TOLERANCE, 0.02 * abs(real))
    return given == asked.answer


def tally(answers: list[str]) -> list[tuple[str, int]]:
    counts = Counter(answers).most_common()
    rows = counts[:MAX_TALLY_ROWS]
    rest = sum(n for _, n in counts[MAX_TALLY_ROWS:])
    return rows + ([("other", rest)] if rest else [])


def show_tally(asked: Asked, answers: list[str], revealed: bool) -> None:
    """The class's answers as a text histogram (the real answer marked once revealed)."""
    rows = tally(answers)
    if not rows:
        st.caption("No answers yet.")
        return
    top = max(n for _, n in rows)
    lines = ["| answer | students | |", "|---|---:|---|"]
    for text, count in rows:
        mark = " ✓" if revealed and text == asked.answer else ""
        lines.append(f"| {escape_markdown(text)}{mark} | {count} | {'█' * max(1, round(12 * count / top))} |")
    st.markdown("\n".join(lines))


def show_reveal(asked: Asked, given: str | None) -> None:
    """The real answer beside the learner's own."""
    own = "no prediction" if given is None else f"**{escape_markdown(given)}**"
    if given is not None and verdict(asked, given):
        st.success(f"Right: your prediction {own} is what the layer computed.", icon=":material/check_circle:")
    else:
        st.info(f"Your prediction: {own}. The layer's answer: **{escape_markdown(asked.answer)}**.",
                icon=":material/visibility:")
    st.markdown(asked.explanation)
