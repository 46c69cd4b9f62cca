"""Classroom mode on every page: the lesson (authoring in the sidebar, the bar on top), and class rooms.

Two calls: one from the shared sidebar (moeviz.app.controls.sidebar) draws it all, one ends every page's run:

    classroom.sidebar_section()
    classroom.publish_at_end()        # app.finish_page()

- A teacher presses "Start a class room": a code (8 characters, CODE_COUNT of them) and a join link
  (`/?room=CODE`). The teacher's view (page, link parameters, the lesson view's question) goes to the room store
  when it changed: early in each run (the shared knobs and the page), at its end (the page's own values), and
  from the walkthrough stepper's callbacks. No timer.
- A student opens the join link or types the code: a fragment polls the store every FOLLOW_EVERY_S and opens
  each new view of the teacher's exactly as its link would (without the teacher's presenter settings), until
  "Explore on my own"; "Follow again" comes back. An unknown or expired code says so and leaves the page as is.
- Class poll: on a view with a question, students predict (one answer each, anonymous), the teacher sees the
  live tally and reveals; students then see the real answer beside their own.
The store is moeviz.rooms (this process's memory, or Redis with MOEVIZ_REDIS_URL); nothing here knows which.
"""
from __future__ import annotations

import json
import zlib
from urllib.parse import urlsplit, urlunsplit, urlencode

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from moeviz.app.lesson_bar import lesson_bar, playing
from moeviz.app.lesson_edit import lesson_editor
from moeviz.app.lesson_views import (PRESENTER_KEYS, current_page_url, current_params, open_requested_view,
                                     page_for_url, request_view, stop_fragment_timer)
from moeviz.app.params import ParamError, shown
from moeviz.app.polls import Asked, answer_widget, asked_question, show_reveal, show_tally
from moeviz.app.url import url_value
from moeviz.lessons.schema import LessonError, View, question_from_dict, question_to_dict
from moeviz.rooms import CODE_COUNT, RoomError, RoomStore, new_student_id, normalize_code, open_store, shown_code
from moeviz.text import escape_markdown

FOLLOW_EVERY_S = 0.25  # a student's side reads the room this often: one store read. The teacher publishes at
# the end of each run (publish_at_end), so with a page's own run (about 1 s on 2 cores) a change reaches students
# within the 2 s the issue asks for.
POLL_EVERY_S = 1.0  # the teacher's live tally of a class poll reads the answers this often
FOLLOW_RETRIES = 4  # opening one view again while the session is still on another page (see _should_open)
_ROOM = "_moeviz_room"  # session state: this session's room (see _room)
_ASKED = "_moeviz_asked"  # session state: {question id: Asked}, so a poll's answer is computed once
_NOTICE = "_moeviz_room_notice"  # a message to show once on the next full run


@st.cache_resource(show_spinner=False)
def room_store() -> RoomStore:
    """The server's one room store (Redis when MOEVIZ_REDIS_URL is set, else this process's memory)."""
    return open_store()


def parse_room(raw: str) -> str:
    """The `room` link value: a class room code (dashes, spaces and case ignored), else ParamError."""
    code = normalize_code(raw)
    if code is None:
        raise ParamError(f"“{shown(raw)}” is not a class room code (8 letters and digits, e.g. ABCD-EFGH).")
    return code


def _room() -> dict | None:
    """{"role": "teacher"|"student", "code", "token" (teacher), "student_id", "following", "applied",
    "published"} or None."""
    return st.session_state.get(_ROOM)


def sidebar_section() -> None:
    """Everything classroom mode draws on a page (call once per run, after the shared controls)."""
    open_requested_view()  # a view asked for by Prev / Next or by the teacher: st.switch_page ends this run
    notice = st.session_state.pop(_NOTICE, None)
    if notice:
        st.warning(notice, icon=":material/groups:")
    _join_from_link()
    with st.sidebar:
        lesson_editor()
        _room_tools()
    room = _room()
    if room and room["role"] == "student":
        (_follow if room["following"] else _exploring)()
        return
    lesson_bar()
    if room and room["role"] == "teacher":
        _teacher_room()


# --- joining and leaving ------------------------------------------------------------------------------------

def _join(code: str) -> bool:
    """Join room `code` as a student (follow at once); False, with a message, when there is no such room."""
    try:
        exists = room_store().room(code) is not None
    except RoomError as problem:
        st.session_state[_NOTICE] = f"Could not reach the class rooms: {problem}"
        return False
    if not exists:
        st.session_state[_NOTICE] = (f"There is no class room {shown_code(code)}: it has ended, or the code is "
                                     "mistyped. This is the normal page; ask your teacher for the code.")
        return False
    st.session_state[_ROOM] = {"role": "student", "code": code, "student_id": new_student_id(),
                               "following": True, "applied": None}
    return True


def _join_from_link() -> None:
    code = url_value("room", None, parse_room)
    room = _room()
    if code is None or (room and room["code"] == code):
        return
    if not _join(code):
        _unlink_room()
        st.warning(st.session_state.pop(_NOTICE), icon=":material/groups:")


def _join_typed() -> None:
    code = normalize_code(st.session_state.get("room_code_typed") or "")
    if code is None:
        st.session_state[_NOTICE] = "A class room code has 8 letters and digits, e.g. ABCD-EFGH."
        return
    _join(code)


def _start_room() -> None:
    try:
        code, token = room_store().create_room()
    except RoomError as problem:
        st.session_state[_NOTICE] = f"Could not start a class room: {problem}"
        return
    st.session_state[_ROOM] = {"role": "teacher", "code": code, "token": token, "published": None}


def _end_room() -> None:
    room = _room()
    if room and room["role"] == "teacher":
        try:
            room_store().close(room["code"], room["token"])
        except RoomError:
            pass  # already gone (expired): ending it is what was asked
    st.session_state[_ROOM] = None


def _unlink_room() -> None:
    if "room" in st.query_params:
        del st.query_params["room"]


def _leave() -> None:
    st.session_state[_ROOM] = None
    _unlink_room()


def _explore() -> None:
    _room()["following"] = False
    _unlink_room()


def _follow_again() -> None:
    room = _room()
    room["following"], room["applied"] = True, None


def join_link(code: str) -> str:
    parts = urlsplit(st.context.url or "")
    return urlunsplit((parts.scheme, parts.netloc, "/", urlencode({"room": code}), ""))


def _room_tools() -> None:
    """The sidebar's Class room expander."""
    room = _room()
    with st.expander("Class room", icon=":material/groups:", expanded=bool(room)), st.container(key="room_panel"):
        if room is None:
            st.button("Start a class room", key="room_start", on_click=_start_room, icon=":material/podium:",
                      width="stretch", help="Students who open the join link follow your view live.")
            st.text_input("Or join one: the code", key="room_code_typed", placeholder="ABCD-EFGH", max_chars=20)
            st.button("Join", key="room_join", on_click=_join_typed, icon=":material/login:")
        elif room["role"] == "teacher":
            st.markdown(f"Class room code: **{shown_code(room['code'])}**")
            st.caption("Students open this link (or type the code in their sidebar):")
            st.code(join_link(room["code"]), language=None, wrap_lines=True)
            st.caption(f"Codes are drawn at random from {CODE_COUNT:,} (31 characters, 8 places).")
            st.button("End the class room", key="room_end", on_click=_end_room, icon=":material/logout:")
        else:
            st.markdown(f"In class room **{shown_code(room['code'])}**")
            st.button("Leave the class room", key="room_leave", on_click=_leave, icon=":material/logout:")


# --- the teacher's side -------------------------------------------------------------------------------------

def _teacher_view(changes: dict[str, str] | None = None) -> dict:
    """What students should see now: this page and its link (with `changes` made), and the lesson view's
    question when it is on."""
    page = current_page_url()
    params = {k: v for k, v in {**current_params(), **(changes or {})}.items() if k not in PRESENTER_KEYS}
    view = {"page": page, "params": params, "title": (page_for_url(page).label if page_for_url(page) else page)}
    now = playing()
    if now and now[1].page == page and now[1].question is not None:
        view.update(title=now[1].title, question=question_to_dict(now[1].question),
                    question_id=now[1].question.question_id())
    return view


def _asked(view: dict) -> Asked | None:
    """The published view's question with its answer, computed once per question in this session."""
    if not view or not view.get("question_id"):
        return None
    cache = st.session_state.setdefault(_ASKED, {})
    qid = view["question_id"]
    if qid not in cache:
        try:
            question = question_from_dict(view.get("question"))
        except LessonError:
            return None
        cache.clear()  # one question at a time is enough
        cache[qid] = asked_question(View(view["page"], view["params"], view.get("title") or "view", "", question))
    return cache[qid]


def _reveal() -> None:
    room = _room()
    try:
        room_store().reveal(room["code"], room["token"])
    except RoomError as problem:
        st.session_state[_NOTICE] = str(problem)


def publish_view(changes: dict[str, str] | None = None) -> dict | None:
    """In a teacher's session, put this view in the room now if it changed; return it (None for anyone else).

    publish_at_end calls it at the end of every page's run; a callback that changes the view inside a fragment
    of its own (the walkthrough's Prev / Next) calls it at once with the link `changes` its run is about to
    make, since that fragment's run does not reach the page's end. Raises RoomError from the store."""
    room = _room()
    if not room or room["role"] != "teacher":
        return None
    view = _teacher_view(changes)
    text = json.dumps(view, sort_keys=True)
    if text != room["published"]:
        room_store().publish(room["code"], room["token"], view)
        room["published"] = text
    return view


def _room_problem(room: dict, problem: RoomError) -> None:
    """The store could not be reached (or refused): say so on the page, for this room."""
    st.warning(f"Class room {shown_code(room['code'])}: {problem}", icon=":material/groups:")


def publish_at_end() -> None:
    """The last call of every page's run (app.finish_page): a teacher's room gets the view this run drew, its
    link complete. With the walkthrough stepper's callbacks (a fragment, whose runs do not reach the page's end)
    that is every way a teacher's view changes, so the teacher's page needs no timer to publish: a timer's
    fragment runs, every 0.25 s beside the teacher's own clicks, broke the teacher's page in Chromium ("Bad
    delta path index", then a lost connection) and moved the page under the pointer between a click's aim and
    its landing."""
    try:
        publish_view()
    except RoomError as problem:
        _room_problem(_room(), problem)


def _teacher_room() -> None:
    """The teacher's line on top of the page, and the class poll when the view asks a question.

    It publishes first: the shared knobs are in the link by now, so a knob change or a new page reaches the
    students at the start of the run, not after a long page (publish_at_end then adds the page's own values;
    students do not switch again for those, see _should_open)."""
    room = _room()
    try:
        view = publish_view()
        state = room_store().room(room["code"])
    except RoomError as problem:
        _room_problem(room, problem)
        return
    if state is None:
        st.warning(f"Class room {shown_code(room['code'])} has expired; start a new one in the sidebar.",
                   icon=":material/groups:")
        return
    asked = _asked(view)
    if asked is None:
        st.container(key="room_teacher").caption(f"Class room **{shown_code(room['code'])}** follows your view.")
    else:
        _teacher_poll(asked)


@st.fragment(run_every=POLL_EVERY_S)
def _teacher_poll(asked: Asked) -> None:
    """The live tally of the students' answers, and Reveal (only while the view asks a question)."""
    room = _room()
    if not room or room["role"] != "teacher":
        return
    store = room_store()
    try:
        state = store.room(room["code"])
        answers = store.answers(room["code"], asked.question_id) if state else []
    except RoomError as problem:
        _room_problem(room, problem)
        return
    if state is None:
        return
    with st.container(key="room_teacher", border=True):
        st.caption(f"Class room **{shown_code(room['code'])}** follows your view.")
        st.markdown(f"**Class poll:** {asked.prompt}")
        show_tally(asked, answers, state.revealed)
        if state.revealed:
            st.markdown(f"The layer's answer: **{asked.answer}**")
        else:
            st.button(f"Reveal the answer ({len(answers)} answered)", key="room_reveal", on_click=_reveal,
                      type="primary", icon=":material/visibility:")


# --- the students' side -------------------------------------------------------------------------------------

@st.fragment(run_every=FOLLOW_EVERY_S)
def _follow() -> None:
    room = _room()
    if not room or room["role"] != "student":
        return
    if not room["following"]:  # "Explore on my own" was pressed in here: the page's banner changes, a full run
        st.rerun(scope="app")
    try:
        state = room_store().room(room["code"])
    except RoomError as problem:
        _room_problem(room, problem)
        return
    if state is None:
        st.session_state[_ROOM] = None
        st.session_state[_NOTICE] = f"Class room {shown_code(room['code'])} has ended. You can explore on your own."
        st.rerun(scope="app")
    view = state.view
    ctx = get_script_run_ctx()
    fragment_run = bool(ctx and ctx.fragment_ids_this_run)
    if view and _should_open(room, view, fragment_run):
        request_view(View(view["page"], view["params"], view.get("title") or "view"),
                     extra={"room": room["code"]}, drop=PRESENTER_KEYS)
        if fragment_run:
            # The switch is made at the top of a full run (sidebar_section), not from this fragment's own run:
            # switches made from it sometimes left the student's page blank in Chromium ("Bad delta path
            # index", a fragment's delta landing in the new page's emptied tree).
            stop_fragment_timer()
            st.rerun(scope="app")
        open_requested_view()  # in a full run: st.switch_page ends it
    with st.container(key="room_student", border=True):
        left, right = st.columns([4, 1], vertical_alignment="center")
        left.markdown(f"Following the teacher · class room **{shown_code(room['code'])}**")
        right.button("Explore on my own", key="room_explore", on_click=_explore, icon=":material/explore:",
                     width="stretch")
        asked = _asked(view)
        if asked is not None:
            _student_poll(room, asked, state.revealed)


def _on_view(view: dict) -> bool:
    """Whether this session shows `view`: its page, and its link values (presenter settings aside)."""
    here = current_params()
    return current_page_url() == view["page"] and all(
        here.get(key) == value for key, value in view["params"].items() if key not in PRESENTER_KEYS)


def _adds_only(before: tuple, after: tuple) -> bool:
    """Whether view `after` is view `before` (same page, same values) with more link values: what a teacher's
    page adds at the end of its run (its own values) to the view it published at the start."""
    (page, params), (new_page, new_params) = before, after
    return page == new_page and all(new_params.get(key) == value for key, value in params.items())


def _should_open(room: dict, view: dict, fragment_run: bool) -> bool:
    """Whether to open the teacher's `view` now: once when it is new, and again (at most FOLLOW_RETRIES times)
    while this session does not show it: on another page in any run, with other link values in this fragment's
    own runs (where the session's link is complete).

    The retry is there because a switch can be undone: a run request stamped with the old page and the old link
    (a tick of this fragment's timer sent before the browser heard of the switch, see
    lesson_views.stop_fragment_timer) reaches the server after the switch's, and Streamlit runs the later one.
    Without a retry that student would stay behind until the teacher's next change. A view that only adds values
    to the one just opened (the teacher's page wrote its own values at the end of its run) is not opened at
    once: this session's page writes its own, the same when both start from the same link, and the next check
    opens it only if they differ. Otherwise every page change would cost students two switches, each a full run
    of the page."""
    target = (view["page"], view["params"])
    if target != room["applied"]:
        adds_only = room["applied"] is not None and _adds_only(room["applied"], target)
        room["applied"], room["tries"] = target, 0 if adds_only else 1
        return not adds_only
    if room.get("tries", 0) >= FOLLOW_RETRIES:
        return False
    # The page is known from the start of any run; the link's page values only once a run has ended (a full run
    # of the page writes them later than this fragment runs), so those are compared in fragment runs only.
    behind = current_page_url() != view["page"] or (fragment_run and not _on_view(view))
    if not behind:
        return False
    room["tries"] = room.get("tries", 0) + 1
    return True


def _send_answer(room: dict, asked: Asked, key: str) -> None:
    given = st.session_state.get(f"{key}_text")
    if given is None:
        return
    try:
        room_store().answer(room["code"], room["student_id"], asked.question_id, given)
        room.setdefault("answers", {})[asked.question_id] = given
    except RoomError as problem:
        st.session_state[_NOTICE] = str(problem)


def _student_poll(room: dict, asked: Asked, revealed: bool) -> None:
    own = room.get("answers", {}).get(asked.question_id)
    st.markdown(f"**Predict:** {asked.prompt}")
    if revealed:
        show_reveal(asked, own)
        return
    key = f"poll_{zlib.crc32(asked.question_id.encode())}"
    given = answer_widget(asked, key)
    st.session_state[f"{key}_text"] = given
    label = "Change my answer" if own else "Send my answer"
    st.button(label, key=f"{key}_send", on_click=_send_answer, args=(room, asked, key), disabled=given is None,
              icon=":material/send:")
    if own:
        st.caption(f"Sent: {escape_markdown(own)}. The teacher will reveal the answer.")


def _exploring() -> None:
    room = _room()
    with st.container(key="room_student", border=True):
        left, right = st.columns([4, 1], vertical_alignment="center")
        left.markdown(f"Exploring on your own · class room **{shown_code(room['code'])}** goes on without you.")
        right.button("Follow again", key="room_follow", on_click=_follow_again, icon=":material/group:",
                     type="primary", width="stretch")
