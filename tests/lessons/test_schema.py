"""The lesson file: round trip, clear messages for bad files, and opening by name only."""
import json

import pytest

from moeviz.lessons import Lesson, LessonError, Question, View, dump_lesson, load_lesson
from moeviz.lessons.folders import available_lessons, open_lesson
from moeviz.lessons.schema import MAX_LESSON_BYTES, MAX_VIEWS, lesson_to_dict

LESSON = Lesson("Routing <b>basics</b>", (
    View("/", {"num_experts": "8", "top_k": "2", "text": "Experts take turns", "step": "3"}, "Top-k",
         "- **k = 2**\n- <script>alert(1)</script>", Question("number", prompt="How many run?",
                                                                  answer="experts_run_count")),
    View("/quiz", {"q": "42"}, "A quiz", "", Question("quiz", q=42, kind="which_experts")),
    View("/parallel", {}, "Capacity"),
))


def test_round_trip():
    text = dump_lesson(LESSON)
    assert load_lesson(text) == LESSON
    assert load_lesson(text.encode()) == LESSON
    assert json.loads(text)["moeviz_lesson"] == 1


def _with(**changes):
    data = lesson_to_dict(LESSON)
    for path, value in changes.items():
        target = data
        *parents, last = path.split("__")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value
    return json.dumps(data)


@pytest.mark.parametrize("text, message", [
    ("not json", "not JSON"),
    ("[1, 2]", "one JSON object"),
    (_with(moeviz_lesson=2), "version 1"),
    (_with(views="none"), "views must be a list"),
    (_with(views__0__page="../../etc/passwd"), "view 1.page"),
    (_with(views__0__page="/heatmap?x=1"), "view 1.page"),
    (_with(views__0__params={"top_k": 2}), "view 1.params.top_k must be text"),
    (_with(views__0__params={"bad key": "2"}), "not a link parameter name"),
    (_with(views__1__title=""), "view 2.title is empty"),
    (_with(views__1__title="x" * 500), "longer than 120"),
    (_with(views__2__notes="bell\x07"), "control characters"),
    (_with(views__0__question={"type": "essay"}), "view 1.question"),
    (_with(views__1__question={"type": "quiz", "q": 0}), "view 2.question.q"),
    (_with(views__1__question={"type": "quiz", "q": 3, "kind": "nope"}), "view 2.question.kind"),
    (_with(views__0__question={"type": "number", "prompt": "?", "answer": "a b"}), "view 1.question.answer"),
    (_with(views__0__extra=1), "unknown fields: extra"),
])
def test_bad_files_say_where_and_why(text, message):
    with pytest.raises(LessonError, match=message.replace("?", r"\?").replace(".", r"\.")):
        load_lesson(text)


def test_sizes_are_bounded():
    with pytest.raises(LessonError, match="larger than"):
        load_lesson(b" " * (MAX_LESSON_BYTES + 1))
    with pytest.raises(LessonError, match="at most"):
        load_lesson(json.dumps({"moeviz_lesson": 1, "title": "t",
                                "views": [{"page": "/", "title": "v"}] * (MAX_VIEWS + 1)}))
    with pytest.raises(LessonError, match="UTF-8"):
        load_lesson(b"\xff\xfe")


def test_link_of_a_view():
    assert LESSON.views[0].link("http://host:8501/") == \
        "http://host:8501/?num_experts=8&top_k=2&text=Experts+take+turns&step=3"
    assert LESSON.views[2].link() == "/parallel"


def test_lessons_open_by_name_only(tmp_path, monkeypatch):
    folder = tmp_path / "lessons"
    folder.mkdir()
    (folder / "mine.json").write_text(dump_lesson(LESSON))
    (folder / "broken.json").write_text("{")
    (folder / ".hidden.json").write_text(dump_lesson(LESSON))
    monkeypatch.setenv("MOEVIZ_LESSON_DIRS", str(folder))
    lessons = available_lessons()
    assert {"mine", "broken", "top-k-routing-in-15-minutes"} <= set(lessons) and ".hidden" not in lessons
    assert open_lesson("mine", lessons) == LESSON
    with pytest.raises(LessonError, match="broken: the file is not JSON"):
        open_lesson("broken", lessons)
    for name in (str(folder / "mine.json"), "../lessons/mine", "mine/..", ".hidden", "nope", None, ""):
        with pytest.raises(LessonError):
            open_lesson(name, lessons)
