"""Timers that belong to one page: fragments with run_every that the class rooms put last on a page.

    page_timer(body, every_s)     # call at the very end of a full run: `body` runs every `every_s` seconds
    forget_page_timers()          # before this session leaves its page (st.switch_page): stop them, for good

Why not plain @st.fragment(run_every=...): a tick the browser sent before it heard of a page switch reaches the
server after the switch, stamped with the old page. Streamlit runs it as a fragment run of the old page, whose
start message names the old page, and the browser then clears the new page it is drawing (App.handleNewSession
clears the app when the page differs, as of Streamlit 1.67, pinned in requirements.txt). The next deltas land
in an empty page: "Bad delta path index", a blank page, seen in Chromium on 2 cores. So each timer's fragment id
names its page (Streamlit's own `additional_hash_info`), and forget_page_timers deletes the page's timers from
the session's fragment storage before the switch: Streamlit ignores a tick of a fragment it no longer holds
(AppSession.request_rerun). It also tells the browser to stop them (the `stop_auto_rerun` message Streamlit sends
itself for a fragment that is no longer drawn); the new page's run starts its own.

A timer draws nothing and is the last thing on the page, so nothing moves if the browser drops its (empty)
block: Streamlit drops a full run's deltas of a fragment whose own run starts before they were sent
(ForwardMsgQueue.clear), and the browser then removes the block as stale; a block in the middle of the page would
shift every later one. Streamlit has no public call for any of this; tests/app/test_classroom.py and the class
room browser tests exercise it on the pinned version.
"""
from __future__ import annotations

from typing import Callable

import streamlit as st
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.runtime.fragment import _fragment
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.runtime.scriptrunner_utils.script_run_context import ThreadState

_TIMERS = "_moeviz_page_timers"  # session state: the fragment ids of the timers this session's page started
_GENERATION = "_moeviz_page_timers_generation"  # session state: how many times this session forgot its timers


def page_timer(body: Callable[[], None], every_s: float) -> None:
    """Run `body` now (a full run: it should return at once) and every `every_s` seconds, as a fragment whose
    id names this run's page (its script hash) and how many times the session forgot its timers: after a switch
    to another view of the same page, a late tick of the old timer is then ignored too."""
    ctx = get_script_run_ctx()
    if ctx is None:
        return
    def timer() -> None:
        fragment_id = ThreadState.get().fragment_id
        if fragment_id:
            st.session_state.setdefault(_TIMERS, set()).add(fragment_id)
        body()

    timer.__qualname__ = f"page_timer.{body.__qualname__}"  # the id's name part: one per body
    generation = st.session_state.get(_GENERATION, 0)
    _fragment(timer, run_every=every_s, additional_hash_info=f"{ctx.page_script_hash}:{generation}")()


def forget_page_timers() -> None:
    """Stop this session's page timers: deleted from the fragment storage (a late tick is then ignored) and
    stopped in the browser. Call it before st.switch_page, in the run that switches or in a timer's run."""
    ctx = get_script_run_ctx()
    st.session_state[_GENERATION] = st.session_state.get(_GENERATION, 0) + 1
    ids = st.session_state.pop(_TIMERS, set())
    if ctx is None or not ids:
        return
    for fragment_id in ids:
        if ctx.fragment_storage.contains(fragment_id):
            ctx.fragment_storage.delete(fragment_id)
    msg = ForwardMsg()
    msg.stop_auto_rerun.fragment_ids.extend(sorted(ids))
    ctx.enqueue(msg)
