"""Classroom mode under AppTest: authoring and playing a lesson, opening by name, and a class room followed by a
student session (both sessions share this process's in-process store, as on one server)."""
import pytest
from streamlit.testing.v1 import AppTest

from moeviz.app import room_wake
from moeviz.app.classroom import room_store
from moeviz.lessons import load_lesson
from moeviz.rooms import shown_code
from tests.app.pages import open_page

WALK = {"trained": "0", "step": "3", "token": "1"}


def _link(at: AppTest) -> dict:
    return {k: (v[-1] if isinstance(v, list) else v) for k, v in at.query_params.items()}


def _bar(at: AppTest) -> str:
    return next((m.value for m in at.markdown if m.value.startswith("**View ")), "")


def _teacher_with_two_views() -> AppTest:
    at = open_page("app.py", WALK, timeout=120)
    at.text_input(key="lesson_new_title").input("Top-k pick").run()
    at.button(key="lesson_add").click().run()
    at.switch_page("pages/4_compute.py").run()
    at.slider(key="num_experts").set_value(16).run()
    at.slider(key="top_k").set_value(4).run()
    at.button(key="lesson_add").click().run()
    return at


@pytest.mark.slow
def test_author_play_and_save():
    at = _teacher_with_two_views()
    assert not at.exception
    assert at.selectbox(key="lesson_pick").options == ["1 · Top-k pick (/)", "2 · Sparse vs dense compute (/compute)"]
    at.selectbox(key="lesson_pick").set_value(0).run()
    at.text_area(key="lesson_edit_notes").input("**k = 2** <script>alert(1)</script>")
    at.button(key="FormSubmitter:lesson_edit_form-Save the notes").click().run()
    # Reorder, save, delete.
    at.selectbox(key="lesson_pick").set_value(1).run()
    at.button(key="lesson_up").click().run()
    assert at.selectbox(key="lesson_pick").options[0].startswith("1 · Sparse vs dense compute")
    saved = load_lesson(_saved_text(at))
    assert [v.title for v in saved.views] == ["Sparse vs dense compute", "Top-k pick"]
    assert saved.views[1].notes == "**k = 2** <script>alert(1)</script>"
    assert saved.views[0].params["num_experts"] == "16" and saved.views[1].params["step"] == "3"
    at.button(key="lesson_down").click().run()
    # Play: each view opens as its link would, widgets included; notes are Markdown, never HTML.
    at.button(key="lesson_start").click().run()
    assert not at.exception
    assert _bar(at).startswith("**View 1 of 2**")
    assert _link(at)["step"] == "3" and _link(at)["token"] == "1" and _link(at)["trained"] == "0"
    notes = [m for m in at.markdown if "alert(1)" in m.value]
    assert notes and not any(m.allow_html for m in notes)
    at.button(key="lesson_next").click().run()
    assert _bar(at).startswith("**View 2 of 2**")
    assert _link(at)["num_experts"] == "16" and _link(at)["top_k"] == "4"
    assert [s for s in at.slider if s.key == "num_experts"][0].value == 16  # the widgets follow the link
    at.button(key="lesson_prev").click().run()
    assert _bar(at).startswith("**View 1 of 2**") and _link(at)["num_experts"] == "8"


def test_delete_a_view():
    at = _teacher_with_two_views()
    at.button(key="lesson_delete").click().run()
    assert at.selectbox(key="lesson_pick").options == ["1 · Sparse vs dense compute (/compute)"]


def _saved_text(at: AppTest) -> str:
    """The lesson the Save button would download (AppTest does not fetch download data): the session's lesson,
    written by the same dump_lesson."""
    from moeviz.app.lesson_bar import _STATE
    from moeviz.lessons import dump_lesson
    return dump_lesson(at.session_state[_STATE]["lesson"])


def test_open_a_shipped_lesson_by_name():
    at = open_page("app.py", {"trained": "0"})
    assert at.selectbox(key="lesson_named").options[:3] == ["load-balancing", "moe-at-scale",
                                                           "top-k-routing-in-15-minutes"]
    at.selectbox(key="lesson_named").set_value("load-balancing").run()
    at.button(key="lesson_open_named").click().run()
    assert any("Opened “Load balancing” (6 views)" in s.value for s in at.success)
    at.button(key="lesson_start").click().run()
    assert not at.exception and _bar(at).startswith("**View 1 of 6**")
    assert _link(at)["balance_weight"] == "0"


def test_unknown_room_says_so_and_shows_the_normal_page():
    at = open_page("app.py", {"room": "ABCD-EFGH", "trained": "0"})
    assert not at.exception
    assert any("There is no class room ABCD-EFGH" in w.value for w in at.warning)
    assert "room" not in at.query_params and at.button(key="room_start")  # the normal page, nobody followed
    bad = open_page("app.py", {"room": "<script>", "trained": "0"})
    assert any("is not a class room code" in w.value for w in bad.warning)


@pytest.mark.slow
def test_student_follows_the_teacher_and_answers_the_poll():
    teacher = open_page("app.py", {"trained": "0"})
    teacher.selectbox(key="lesson_named").set_value("top-k-routing-in-15-minutes").run()
    teacher.button(key="lesson_open_named").click().run()
    teacher.button(key="lesson_start").click().run()  # view 1 asks how many experts run
    teacher.button(key="room_start").click().run()
    code = teacher.session_state["_moeviz_room"]["code"]
    assert any(shown_code(code) in m.value for m in teacher.markdown)
    state = room_store().room(code)
    assert state.view["page"] == "/" and state.view["params"]["step"] == "1" and state.view["question_id"]

    student = open_page("app.py", {"room": shown_code(code)})
    assert not student.exception
    assert _link(student)["step"] == "1" and _link(student)["room"] == code  # the teacher's view, and the room
    assert student.button(key="room_explore")
    assert room_wake.followers(code) == 1  # the room's changes wake this session's timer (moeviz.app.room_wake)
    # The poll: the student predicts, the teacher sees the tally, reveals; the student sees both answers.
    student.number_input(key=next(n.key for n in student.number_input if n.key.startswith("poll_"))).set_value(2)
    student.run()
    next(b for b in student.button if b.key.endswith("_send")).click().run()
    assert room_store().answers(code, state.view["question_id"]) == ["2"]
    teacher.run()
    assert any("| 2 | 1 |" in m.value for m in teacher.markdown)
    teacher.button(key="room_reveal").click().run()
    student.run()
    assert any("Right: your prediction **2**" in s.value for s in student.success)
    # The reveal names the number in words, not by the lesson file's key (experts_run_count).
    assert any("(how many experts ran for the token)" in m.value for m in student.markdown)
    assert not any("experts_run_count" in m.value for m in student.markdown)
    # The teacher moves on: the student follows (page and knobs).
    teacher.button(key="lesson_next").click().run()
    student.run()
    assert _link(student)["step"] == "2"
    # Explore on my own: the teacher's next change no longer moves the student.
    student.button(key="room_explore").click().run()
    assert room_wake.followers(code) == 0
    teacher.button(key="lesson_next").click().run()
    student.run()
    assert _link(student).get("step") == "2" and student.button(key="room_follow")
    student.button(key="room_follow").click().run()
    student.run()
    assert _link(student)["step"] == "3"
    assert room_wake.followers(code) == 1
    # The teacher ends the room: the student is told, and keeps the page (tests/rooms covers who may write).
    teacher.button(key="room_end").click().run()
    student.run()
    assert any("has ended" in w.value for w in student.warning)
    assert room_wake.followers(code) == 0


def test_a_student_left_on_another_view_opens_it_again_a_bounded_number_of_times():
    """A switch that Streamlit undid (a late run request stamped with the old page and link) is retried while
    the session does not show the view, at most FOLLOW_RETRIES times: another page in any run, other link
    values only in the fragment's own runs (a full run's page is still writing its link); a view shown opens
    once."""
    from moeviz.app.classroom import FOLLOW_RETRIES, _should_open  # outside a run: page "/", an empty link
    elsewhere = {"page": "/compute", "params": {"top_k": "2"}}
    for fragment_run in (True, False):
        room = {"applied": None}
        opened = [_should_open(room, elsewhere, fragment_run=fragment_run) for _ in range(FOLLOW_RETRIES + 3)]
        assert opened == [True] * FOLLOW_RETRIES + [False] * 3
    other_link = {"page": "/", "params": {"top_k": "2"}}
    room = {"applied": None}
    assert _should_open(room, other_link, fragment_run=False)
    assert not any(_should_open(room, other_link, fragment_run=False) for _ in range(3))
    assert _should_open(room, other_link, fragment_run=True)
    here = {"page": "/", "params": {}}
    room = {"applied": None, "code": "ABCDEFGH"}  # this session's link does not name the room: switch once
    assert [_should_open(room, here, fragment_run=True) for _ in range(3)] == [True, False, False]


def test_a_session_that_joins_on_the_view_with_the_room_in_its_link_is_not_switched():
    """A reload, or a browser that reconnected to another process after its own died: its link already shows
    the view and names the room, so no switch (one run fewer, and no page switch early in a new session)."""
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_string(
        "import streamlit as st\n"
        "from moeviz.app.classroom import _should_open\n"
        "room = {'applied': None, 'code': 'ABCDEFGH'}\n"
        "view = {'page': '/', 'params': {'top_k': '2'}}\n"
        "st.write(str([_should_open(room, view, fragment_run=False) for _ in range(2)]))\n"
        "other = {'applied': None, 'code': 'ZZZZZZZZ'}\n"
        "st.write(str(_should_open(other, view, fragment_run=False)))\n")
    at.query_params.update({"top_k": "2", "room": "ABCDEFGH"})
    at.run()
    assert not at.exception
    assert [m.value for m in at.markdown] == ["[False, False]", "True"]  # another room's link: switched


def test_a_view_that_only_adds_the_pages_own_values_is_not_opened_twice():
    """The teacher publishes a new page early in its run, then again at its end with the page's own values: the
    student does not switch for the second unless, once its own page has written its values, they differ."""
    from moeviz.app.classroom import _should_open
    early = {"page": "/", "params": {}}
    late = {"page": "/", "params": {"batch": "256"}}
    room = {"applied": None, "code": "ABCDEFGH"}
    assert _should_open(room, early, fragment_run=True)
    assert not _should_open(room, late, fragment_run=False)  # not in the run that is still writing the link
    assert _should_open(room, late, fragment_run=True)  # this session's link (empty here) lacks batch=256: open
    changed = {"page": "/", "params": {"batch": "128"}}  # a changed value is a new view: opened at once
    assert _should_open(room, changed, fragment_run=False)


def test_every_page_ends_its_run_with_finish_page():
    """The teacher's view is published at the end of each run (no timer): every page's last statement, and the
    statement before each st.stop(), is app.finish_page()."""
    import ast
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]

    def finishes(stmt) -> bool:
        return isinstance(stmt, ast.Expr) and ast.unparse(stmt.value) == "app.finish_page()"

    for path in [root / "app.py", *sorted((root / "pages").glob("*.py"))]:
        tree = ast.parse(path.read_text())
        assert finishes(tree.body[-1]), f"{path.name} does not end with app.finish_page()"
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if not isinstance(body, list):
                continue
            for before, stmt in zip(body, body[1:]):
                if isinstance(stmt, ast.Expr) and ast.unparse(stmt.value) == "st.stop()":
                    assert finishes(before), f"{path.name}: st.stop() at line {stmt.lineno} without finish_page"
