"""Classroom mode on every page: the lesson (authoring in the sidebar, the bar on top), and class rooms.

Two calls: one from the shared sidebar (moeviz.app.controls.sidebar) draws it all, one ends every page's run:

    classroom.sidebar_section()
    classroom.finish_page()           # app.finish_page(): publish the teacher's view, then the room's timer

- A teacher presses "Start a class room": a code (8 characters, CODE_COUNT of them) and a join link
  (`/?room=CODE`). The teacher's view (page, link parameters, the lesson view's question) goes to the room store
  when it changed: early in each run (the shared knobs and the page), at its end (the page's own values), and
  from the walkthrough stepper's callbacks. No timer.
- A student opens the join link or types the code: a timer fragment, last on the page and drawing nothing,
  reads the store when the room changes (the store's on_change wakes it, moeviz.app.room_wake) and every
  FOLLOW_EVERY_S in case a change went unheard; each new view of the teacher's is opened exactly as its link would
  (without the teacher's presenter settings), until "Explore on my own"; "Follow again" comes back. An unknown
  or expired code says so and leaves the page as is.
- Class poll: on a view with a question, students predict (one answer each, anonymous), the teacher sees the
  tally (a timer last on the page reruns it when an answer comes in) and reveals; students then see the real
  answer beside their own.
The store is moeviz.rooms (this process's memory, or Redis with MOEVIZ_REDIS_URL); nothing here knows which.
"""
from __future__ import annotations

import json
import logging
import os
import zlib
from urllib.parse import urlsplit, urlunsplit, urlencode

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from moeviz.app.lesson_bar import lesson_bar, playing
from moeviz.app.lesson_edit import lesson_editor
from moeviz.app.lesson_views import (PRESENTER_KEYS, current_page_url, current_params, open_requested_view,
                                     page_for_url, request_view)
from moeviz.app import room_wake
from moeviz.app.page_timers import page_timer
from moeviz.app.params import ParamError, shown
from moeviz.app.polls import Asked, answer_widget, asked_question, show_reveal, show_tally
from moeviz.app.url import url_value
from moeviz.lessons.schema import LessonError, View, question_from_dict, question_to_dict
from moeviz.rooms import CODE_COUNT, RoomError, RoomStore, new_student_id, normalize_code, open_store, shown_code
from moeviz.text import escape_markdown

_LOG = logging.getLogger(__name__)

# A teacher's change reaches its students at once: the store tells this process (moeviz.app.room_wake), which
# runs each following student's timer now. The timer's own ticks are the fallback, for a change heard nowhere
# (Redis pub/sub reconnecting): every FOLLOW_EVERY_S, one store read each. A tick costs the server a fragment run
# and the student's browser a round trip, so a hall of students ticking 4 times a second (the old rate) kept the
# server and the browsers busy.
def _poll_seconds(raw: str | None, default: float = 1.0) -> float:
    """MOEVIZ_FOLLOW_POLL_S as a positive number of seconds; a bad value is logged and the default used, so a
    typo in a server's environment does not stop the app from importing."""
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0.05 <= value <= 3600:  # also false for nan
        _LOG.warning("MOEVIZ_FOLLOW_POLL_S=%r is not a number of seconds from 0.05 to 3600; using %s", raw, default)
        return default
    return value


FOLLOW_EVERY_S = _poll_seconds(os.environ.get("MOEVIZ_FOLLOW_POLL_S"))
POLL_EVERY_S = 1.0  # the teacher's tally of a class poll checks for new answers this often
FOLLOW_RETRIES = 4  # opening one view again while the session is still on another page (see _should_open)
_ROOM = "_moeviz_room"  # session state: this session's room (see _room)
_ASKED = "_moeviz_asked"  # session state: {question id: Asked}, so a poll's answer is computed once
_NOTICE = "_moeviz_room_notice"  # a message to show once on the next full run


@st.cache_resource(show_spinner=False)
def room_store() -> RoomStore:
    """The server's one room store (Redis when MOEVIZ_REDIS_URL is set, else this process's memory). A change
    to a room wakes the students this process serves at once (moeviz.app.room_wake)."""
    store = open_store()
    store.on_change(room_wake.wake)
    return store


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
        (_following if room["following"] else _exploring)()
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
    room["tally_drawn"] = None  # set again by _teacher_poll when this run draws a tally (finish_page reads it)
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
        _teacher_poll(room, asked, state)


def _teacher_poll(room: dict, asked: Asked, state) -> None:
    """The tally of the students' answers, and Reveal (only while the view asks a question). Drawn by full
    runs; _tally_timer, last on the page, asks for one when an answer comes in (see the students' side for why
    no fragment redraws it)."""
    try:
        answers = room_store().answers(room["code"], asked.question_id)
    except RoomError as problem:
        _room_problem(room, problem)
        return
    room["tally_drawn"] = (asked.question_id, len(answers), state.revealed)
    with st.container(key="room_teacher", border=True):
        st.caption(f"Class room **{shown_code(room['code'])}** follows your view.")
        st.markdown(f"**Class poll:** {asked.prompt}")
        show_tally(asked, answers, state.revealed)
        if state.revealed:
            st.markdown(f"The layer's answer: **{asked.answer}**")
        else:
            st.button(f"Reveal the answer ({len(answers)} answered)", key="room_reveal", on_click=_reveal,
                      type="primary", icon=":material/visibility:")


def _tally_timer() -> None:
    """Last on the teacher's page while a question is on: a full run when the answers or the reveal changed.
    Draws nothing."""
    room = _room()
    ctx = get_script_run_ctx()
    if (not room or room["role"] != "teacher" or not room.get("tally_drawn")
            or not (ctx and ctx.fragment_ids_this_run)):
        return
    question_id = room["tally_drawn"][0]
    try:
        state = room_store().room(room["code"])
        answers = room_store().answers(room["code"], question_id) if state else []
    except RoomError:
        return  # the next full run says so
    if state is not None and (question_id, len(answers), state.revealed) != room["tally_drawn"]:
        st.rerun(scope="app")


def finish_page() -> None:
    """The last call of every page's run (app.finish_page): publish the teacher's view (publish_at_end), then
    the class room's timer, last on the page: a following student's (_follow_timer) or, while a question is
    on, the teacher's tally (_tally_timer)."""
    publish_at_end()
    room = _room()
    if room and room["role"] == "student" and room["following"]:
        page_timer(_follow_timer, FOLLOW_EVERY_S)
        return
    room_wake.stop_following()
    if room and room["role"] == "teacher" and room.get("tally_drawn"):
        page_timer(_tally_timer, POLL_EVERY_S)


# --- the students' side -------------------------------------------------------------------------------------
#
# A following student's page is drawn by full runs only: the follow line and the class poll at the top (from
# sidebar_section), and at the page's very end (finish_page) a timer fragment that draws nothing. Every
# FOLLOW_EVERY_S it reads the room and, when the teacher's view or the poll changed, asks for a full run. Why
# not redraw in the fragment: when a fragment's run starts before the output of the full run just before it
# has left the server, Streamlit drops that full run's deltas for the fragment (ForwardMsgQueue.clear at the
# fragment run's start, Streamlit 1.67), the browser then removes the fragment's block as stale, every later
# block of the page moves up one place, and the next deltas land on the wrong blocks: the poll vanished, and
# its own run broke the page ("Bad delta path index"), in Chromium on 2 cores. A fragment that draws nothing,
# last on the page, leaves nothing to move.

def _following() -> None:
    """A following student's full run: the teacher's view opened when it is new (st.switch_page ends the run),
    then the follow line and the class poll."""
    room = _room()
    try:
        state = room_store().room(room["code"])
    except RoomError as problem:
        _room_problem(room, problem)
        return
    if state is None:
        _room_ended(room)
    view = state.view
    if view and _should_open(room, view, fragment_run=False):
        _request_teachers_view(room, view)
        open_requested_view()
    with st.container(key="room_student", border=True):
        left, right = st.columns([4, 1], vertical_alignment="center")
        left.markdown(f"Following the teacher · class room **{shown_code(room['code'])}**")
        right.button("Explore on my own", key="room_explore", on_click=_explore, icon=":material/explore:",
                     width="stretch")
    room["poll_drawn"] = _poll_key(view, state.revealed)
    asked = _asked(view)
    if asked is not None:
        with st.container(key="room_poll", border=True):
            _student_poll(room, asked, state.revealed)


def _follow_timer() -> None:
    """Last on a following student's page (see above): in its own runs, a full run when the teacher's view is
    not shown here or the poll changed. Draws nothing."""
    room = _room()
    ctx = get_script_run_ctx()
    if not room or room["role"] != "student" or not room["following"] or ctx is None:
        return
    if not ctx.fragment_ids_this_run:  # the full run that draws the timer: the room's changes wake it now
        room_wake.follow_here(room["code"])
        return
    try:
        state = room_store().room(room["code"])
    except RoomError:
        return  # the next full run says so
    if state is None:
        _room_ended(room)
    view = state.view
    if view and _should_open(room, view, fragment_run=True):
        _request_teachers_view(room, view)
        open_requested_view()  # st.switch_page from this run: one run less than a full run that switches
    if _poll_key(view, state.revealed) != room.get("poll_drawn"):
        st.rerun(scope="app")  # a question asked or revealed


def _request_teachers_view(room: dict, view: dict) -> None:
    request_view(View(view["page"], view["params"], view.get("title") or "view"), extra={"room": room["code"]},
                 drop=PRESENTER_KEYS)


def _room_ended(room: dict) -> None:
    st.session_state[_ROOM] = None
    st.session_state[_NOTICE] = f"Class room {shown_code(room['code'])} has ended. You can explore on your own."
    st.rerun(scope="app")


def _poll_key(view: dict | None, revealed: bool) -> tuple[str, bool] | None:
    """What the student's poll shows: the question asked (its id) and whether it is revealed; None: no poll."""
    asked = _asked(view)
    return None if asked is None else (asked.question_id, revealed)


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
    moeviz.app.page_timers) reaches the server after the switch's, and Streamlit runs the later one.
    Without a retry that student would stay behind until the teacher's next change. A view that only adds values
    to the one just opened (the teacher's page wrote its own values at the end of its run) is not opened at
    once: this session's page writes its own, the same when both start from the same link, and the next check
    opens it only if they differ. Otherwise every page change would cost students two switches, each a full run
    of the page. A session that has just joined from a link that already shows the view and names the room (a
    reload, or a browser that reconnected to another process after its own died) is not switched either: the
    switch would only cost a run, and a page switch in the first runs of a session is one more chance for a
    late request to undo it."""
    target = (view["page"], view["params"])
    if target != room["applied"]:
        if room["applied"] is None:  # just joined: a link that shows the view already needs no switch
            shown = _on_view(view) and url_value("room", None, parse_room) == room["code"]
        else:
            shown = _adds_only(room["applied"], target)
        room["applied"], room["tries"] = target, 0 if shown else 1
        return not shown
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
