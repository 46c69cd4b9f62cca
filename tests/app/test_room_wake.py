"""moeviz.app.room_wake's follower table, and the follow poll's setting (moeviz.app.classroom).

The push itself (a teacher's change rerunning a student's timer in a live server) is exercised end to end by
tests/browser/test_class_rooms.py::test_a_student_follows_by_push_alone; the AppTest side by tests/app/test_classroom.py.
"""
from __future__ import annotations

import logging

import pytest

from moeviz.app import classroom, room_wake


@pytest.fixture
def table(monkeypatch):
    followers: dict = {}
    monkeypatch.setattr(room_wake, "_followers", followers)
    return followers


def test_forgetting_a_session_drops_a_room_left_empty(table):
    table.update({"AAAA": {"s1": ("f", "p")}, "BBBB": {"s1": ("f", "p"), "s2": ("g", "p")}})
    with room_wake._lock:
        room_wake._forget("s1")
    assert table == {"BBBB": {"s2": ("g", "p")}}
    assert room_wake.followers("AAAA") == 0 and room_wake.followers("BBBB") == 1


def test_wake_outside_a_server_does_nothing(table):
    table["AAAA"] = {"s1": ("f", "p")}
    room_wake.wake("AAAA")  # no Streamlit runtime in this process: nothing to rerun, nothing forgotten
    assert room_wake.followers("AAAA") == 1


@pytest.mark.parametrize("raw, seconds", [(None, 1.0), ("2.5", 2.5), ("60", 60.0), ("0.05", 0.05)])
def test_the_follow_poll_reads_a_number_of_seconds(raw, seconds):
    assert classroom._poll_seconds(raw) == seconds


@pytest.mark.parametrize("raw", ["", "fast", "nan", "0", "-1", "1e9"])
def test_a_bad_follow_poll_falls_back_to_one_second_and_says_so(raw, caplog):
    with caplog.at_level(logging.WARNING, logger="moeviz.app.classroom"):
        assert classroom._poll_seconds(raw) == 1.0
    assert "MOEVIZ_FOLLOW_POLL_S" in caplog.text
