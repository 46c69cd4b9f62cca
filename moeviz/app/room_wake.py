"""Push a teacher's change to the students this server process serves, instead of waiting for their next poll.

    follow_here(code)      # in a following student's timer (its full run): wake this session on the room's changes
    stop_following()       # the session left the room, explores on its own, or the room ended
    wake(code)             # the room store's on_change listener (classroom.room_store): from any thread

A following student's page ends with a timer fragment (classroom._follow_timer) that reads the room and opens
the teacher's view. Its ticks come from the browser, so a change waited for the next tick (FOLLOW_EVERY_S), and
longer while the student's browser was busy drawing: on 2 cores a tick came up to 1.9 s after the teacher's
change. `wake` runs that fragment at once, as a tick would: it asks the student's session, on the server's event
loop, to rerun the timer fragment (the session's own AppSession.request_rerun, with the page and link of the
session's last run and no widget values, so nothing the student typed is touched). A fragment the session no
longer holds (it switched views since) is ignored by Streamlit, as a late tick is (moeviz.app.page_timers).

Streamlit has no public call to rerun another session; this uses its runtime's session table and AppSession,
pinned at 1.67 (requirements.txt) and exercised by tests/app/test_room_wake.py and the class-room browser tests.
"""
from __future__ import annotations

import threading

from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.runtime.scriptrunner_utils.script_run_context import ThreadState

_lock = threading.Lock()
_followers: dict[str, dict[str, tuple[str, str]]] = {}  # room code -> {session id: (timer fragment id, page hash)}


def follow_here(code: str) -> None:
    """Call inside the timer fragment, in its full run: this session follows room `code` from this page."""
    ctx = get_script_run_ctx()
    fragment_id = ThreadState.get().fragment_id
    if ctx is None or not fragment_id:
        return
    with _lock:
        _forget(ctx.session_id)
        _followers.setdefault(code, {})[ctx.session_id] = (fragment_id, ctx.page_script_hash)


def stop_following() -> None:
    ctx = get_script_run_ctx()
    if ctx is not None:
        with _lock:
            _forget(ctx.session_id)


def _forget(session_id: str) -> None:
    """Under _lock: drop the session from every room (and a room left with no follower here)."""
    for code in [code for code, sessions in _followers.items() if sessions.pop(session_id, None) is not None
                 and not sessions]:
        del _followers[code]


def followers(code: str) -> int:
    """How many sessions of this process follow room `code` (for tests and the hall's logs)."""
    with _lock:
        return len(_followers.get(code, {}))


def wake(code: str) -> None:
    """Rerun the follow timer of every session of this process that follows room `code`; forget the sessions
    that have ended. Returns at once: the reruns are scheduled on the server's event loop."""
    if not Runtime.exists():
        return
    runtime = Runtime.instance()
    with _lock:
        sessions = dict(_followers.get(code, {}))
    for session_id, (fragment_id, page_hash) in sessions.items():
        session = runtime.get_app_session(session_id)
        if session is None:
            with _lock:
                _forget(session_id)
            continue
        session._event_loop.call_soon_threadsafe(_rerun_timer, session, fragment_id, page_hash)


def _rerun_timer(session, fragment_id: str, page_hash: str) -> None:
    """On the event loop: the timer's fragment run, as the browser's tick asks for it, without widget values."""
    state = ClientState(query_string=session._client_state.query_string, page_script_hash=page_hash,
                        fragment_id=fragment_id, is_auto_rerun=True)
    session.request_rerun(state)


__all__ = ["follow_here", "stop_following", "wake", "followers"]
