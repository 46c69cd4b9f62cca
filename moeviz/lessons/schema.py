"""A lesson file: versioned JSON, one schema, checked on load with messages a teacher can act on.

    {"moeviz_lesson": 1,                        # the schema's version (SCHEMA_VERSION)
     "title": "Top-k routing in 15 minutes",
     "views": [
       {"page": "/",                            # a page's URL path, as in the app's address bar
        "params": {"num_experts": "8", "top_k": "2", "step": "3", ...},   # the share link's query, as text
        "title": "The top-k pick",
        "notes": "Markdown talking points (shown escaped: never HTML)",
        "question": {"type": "quiz", "q": 7, "kind": "which_experts"}      # optional, see Question
       }, ...]}

A view's `params` are exactly the query parameters a share link carries today (every knob, page value and
presenter setting), kept as the link's text: the app reads them with its own link parsers when it plays the
view, so a lesson is never a second way to write a view. Pure Python: no streamlit, no torch.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace

SCHEMA_VERSION = 1
VERSION_KEY = "moeviz_lesson"
MAX_LESSON_BYTES = 512 * 1024  # an upload or a listed file larger than this is refused unread
MAX_VIEWS = 60
MAX_TITLE_CHARS = 120
MAX_NOTES_CHARS = 4000
MAX_PARAMS = 40
MAX_PARAM_CHARS = 2000  # a sentence or a code snippet in a link; the pages' own parsers bound them further
MAX_PROMPT_CHARS = 500
PAGE_PATTERN = re.compile(r"/[a-z0-9_-]{0,40}")  # "/", "/heatmap", ...: a URL path, never a file path
KEY_PATTERN = re.compile(r"[a-z_][a-z0-9_]{0,39}")  # link keys are widget keys
QUESTION_TYPES = ("quiz", "number")


class LessonError(ValueError):
    """A lesson file that cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Question:
    """A predict-then-reveal question on a view.

    type "quiz": question `q` of the quiz (moeviz.quiz.make_question(q, kind)); its own prompt and answer.
    type "number": `prompt` is the teacher's question; the answer is the view's real number named `answer`
    (a key of the numbers moeviz.lessons.recipes computes for the view), so it can never drift from the view."""
    type: str
    q: int = 0
    kind: str | None = None
    prompt: str = ""
    answer: str = ""

    def question_id(self) -> str:
        """A stable id for polls: the same question gets the same id."""
        return f"quiz:{self.q}:{self.kind}" if self.type == "quiz" else f"number:{self.answer}:{self.prompt}"[:200]


@dataclass(frozen=True)
class View:
    page: str
    params: dict[str, str]
    title: str
    notes: str = ""
    question: Question | None = None

    def link(self, base: str = "") -> str:
        """The view as a share link (`base` is scheme://host, or "" for a relative link)."""
        from urllib.parse import urlencode
        query = urlencode(self.params)
        return f"{base.rstrip('/')}{self.page}{'?' + query if query else ''}"


@dataclass(frozen=True)
class Lesson:
    title: str
    views: tuple[View, ...] = field(default_factory=tuple)

    def with_views(self, views) -> "Lesson":
        return replace(self, views=tuple(views))


def _text(value, where: str, max_chars: int, *, required: bool = True) -> str:
    if not isinstance(value, str):
        raise LessonError(f"{where} must be text, not {type(value).__name__}.")
    if required and not value.strip():
        raise LessonError(f"{where} is empty.")
    if len(value) > max_chars:
        raise LessonError(f"{where} is longer than {max_chars} characters.")
    if any(not (ch.isprintable() or ch in "\n\t") for ch in value):
        raise LessonError(f"{where} holds control characters.")
    return value


def _params(value, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise LessonError(f"{where} must be an object of link parameters.")
    if len(value) > MAX_PARAMS:
        raise LessonError(f"{where} has more than {MAX_PARAMS} parameters.")
    params = {}
    for key, raw in value.items():
        if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
            raise LessonError(f"{where}: {str(key)[:40]!r} is not a link parameter name.")
        params[key] = _text(raw, f"{where}.{key}", MAX_PARAM_CHARS, required=False)
    return params


def question_from_dict(value, where: str = "question") -> Question | None:
    """A Question from parsed JSON (None stays None); LessonError says what is wrong."""
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("type") not in QUESTION_TYPES:
        raise LessonError(f"{where} must be an object whose type is one of {', '.join(QUESTION_TYPES)}.")
    unknown = set(value) - {"type", "q", "kind", "prompt", "answer"}
    if unknown:
        raise LessonError(f"{where} has unknown fields: {', '.join(sorted(unknown))[:80]}.")
    if value["type"] == "quiz":
        from moeviz.quiz import ALL_KINDS  # torch only when a lesson has a quiz question
        q, kind = value.get("q"), value.get("kind")
        if not isinstance(q, int) or isinstance(q, bool) or not 1 <= q <= 10**6:
            raise LessonError(f"{where}.q must be a question number from 1 to 1000000.")
        if kind is not None and kind not in ALL_KINDS:
            raise LessonError(f"{where}.kind must be one of {', '.join(ALL_KINDS)}.")
        return Question("quiz", q=q, kind=kind)
    prompt = _text(value.get("prompt"), f"{where}.prompt", MAX_PROMPT_CHARS)
    answer = value.get("answer")
    if not isinstance(answer, str) or not KEY_PATTERN.fullmatch(answer):
        raise LessonError(f"{where}.answer must name one of the view's numbers (e.g. \"dropped_copies\").")
    return Question("number", prompt=prompt, answer=answer)


def _view(value, where: str) -> View:
    if not isinstance(value, dict):
        raise LessonError(f"{where} must be an object.")
    unknown = set(value) - {"page", "params", "title", "notes", "question"}
    if unknown:
        raise LessonError(f"{where} has unknown fields: {', '.join(sorted(unknown))[:80]}.")
    page = value.get("page")
    if not isinstance(page, str) or not PAGE_PATTERN.fullmatch(page):
        raise LessonError(f"{where}.page must be a page's URL path such as \"/\" or \"/heatmap\".")
    return View(page=page, params=_params(value.get("params", {}), f"{where}.params"),
                title=_text(value.get("title"), f"{where}.title", MAX_TITLE_CHARS),
                notes=_text(value.get("notes", ""), f"{where}.notes", MAX_NOTES_CHARS, required=False),
                question=question_from_dict(value.get("question"), f"{where}.question"))


def lesson_from_dict(data) -> Lesson:
    """A Lesson from parsed JSON; LessonError names the first problem (e.g. "view 3.params.top_k ...")."""
    if not isinstance(data, dict):
        raise LessonError("a lesson file holds one JSON object.")
    version = data.get(VERSION_KEY)
    if version != SCHEMA_VERSION:
        raise LessonError(f"this is not a moeviz lesson of version {SCHEMA_VERSION} (the file says "
                          f"{VERSION_KEY} = {str(version)[:20]!r}).")
    unknown = set(data) - {VERSION_KEY, "title", "views"}
    if unknown:
        raise LessonError(f"unknown fields: {', '.join(sorted(unknown))[:80]}.")
    views = data.get("views")
    if not isinstance(views, list):
        raise LessonError("views must be a list.")
    if len(views) > MAX_VIEWS:
        raise LessonError(f"a lesson holds at most {MAX_VIEWS} views (this one has {len(views)}).")
    return Lesson(title=_text(data.get("title"), "title", MAX_TITLE_CHARS),
                  views=tuple(_view(v, f"view {i + 1}") for i, v in enumerate(views)))


def question_to_dict(q: Question) -> dict:
    if q.type == "quiz":
        return {"type": "quiz", "q": q.q, **({"kind": q.kind} if q.kind else {})}
    return {"type": "number", "prompt": q.prompt, "answer": q.answer}


def lesson_to_dict(lesson: Lesson) -> dict:
    views = []
    for view in lesson.views:
        entry = {"page": view.page, "params": dict(view.params), "title": view.title, "notes": view.notes}
        if view.question is not None:
            entry["question"] = question_to_dict(view.question)
        views.append(entry)
    return {VERSION_KEY: SCHEMA_VERSION, "title": lesson.title, "views": views}


def load_lesson(data: bytes | str) -> Lesson:
    """A Lesson from a file's bytes or text; LessonError for a file too large, not JSON, or not a lesson."""
    if isinstance(data, bytes):
        if len(data) > MAX_LESSON_BYTES:
            raise LessonError(f"the file is larger than {MAX_LESSON_BYTES // 1024} KiB.")
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise LessonError("the file is not UTF-8 text.") from None
    if len(data) > MAX_LESSON_BYTES:
        raise LessonError(f"the file is larger than {MAX_LESSON_BYTES // 1024} KiB.")
    try:
        parsed = json.loads(data)
    except json.JSONDecodeError as problem:
        raise LessonError(f"the file is not JSON (line {problem.lineno}: {problem.msg}).") from None
    return lesson_from_dict(parsed)


def dump_lesson(lesson: Lesson) -> str:
    """The lesson as JSON text (what load_lesson reads back); checked, so a saved file always opens again."""
    data = lesson_to_dict(lesson)
    lesson_from_dict(data)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


__all__ = ["SCHEMA_VERSION", "Lesson", "View", "Question", "LessonError", "load_lesson", "dump_lesson",
           "lesson_from_dict", "lesson_to_dict", "question_from_dict", "question_to_dict", "MAX_VIEWS", "MAX_LESSON_BYTES"]
