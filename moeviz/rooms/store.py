"""Class rooms: one store interface, two backends (this process's memory, or Redis shared by many processes).

    store = open_store()                        # Redis when MOEVIZ_REDIS_URL is set, else the process's memory
    code, token = store.create_room()           # the teacher keeps `token`: every write needs it
    store.publish(code, token, view)            # the teacher's current view (a JSON-able dict); version += 1
    store.room(code)                            # RoomState, or None for an unknown or expired code
    store.answer(code, student_id, question_id, "E1, E3")     # one answer per student id (a later one replaces it)
    store.answers(code, question_id)            # the answers, anonymous (no student ids)
    store.reveal(code, token)                   # students now see the answer
    store.on_change(callback)                   # callback(code) after a publish, reveal or close, from any process

`on_change` is how the app pushes a teacher's change to its students at once instead of waiting for their next
poll. The callback runs on the writer's thread (in-process) or on a listener thread (Redis pub/sub): it must
return at once and not raise.

Rules every backend keeps (RoomError says which was broken): codes are CODE_LENGTH characters from
CODE_ALPHABET (31**8, about 8.5e11 codes), drawn with `secrets`; a room expires after IDLE_SECONDS without a
teacher write or a student answer; only the teacher token writes the view or reveals (the store keeps its
SHA-256, compared in constant time); an answer is at most MAX_ANSWER_CHARS of printable text, a question holds
at most MAX_ANSWERS of them, and a student id (a random 32-hex-digit id the student's session draws) holds one.
Pure Python: no streamlit.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from abc import ABC, abstractmethod
import threading
from dataclasses import dataclass
from typing import Callable

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read off a projector without mistakes
CODE_LENGTH = 8
CODE_COUNT = len(CODE_ALPHABET) ** CODE_LENGTH  # 852,891,037,441
IDLE_SECONDS = float(os.environ.get("MOEVIZ_ROOM_IDLE_S", 3 * 3600))  # a lesson may pause for a long break
MAX_ROOMS = 1000  # per in-process store: rooms are small, but a server must not grow without bound
MAX_ANSWERS = 1000  # per question: a lecture hall
MAX_ANSWER_CHARS = 80
MAX_VIEW_BYTES = 16 * 1024  # a view is a link and a title; its notes stay with the teacher
MAX_QUESTION_ID_CHARS = 200
STUDENT_ID = re.compile(r"[0-9a-f]{32}")
_LISTENERS_LOCK = threading.Lock()


class RoomError(ValueError):
    """A room operation that was refused; the message says why, in words for the page."""


@dataclass(frozen=True)
class RoomState:
    code: str
    version: int  # +1 on every publish: followers compare it with the one they applied
    view: dict | None  # the teacher's current view ({"page", "params", "title", "question"...}), None at first
    revealed: bool  # whether the current view's question has been revealed


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(raw) -> str | None:
    """A typed or linked code in canonical form (upper case, no spaces or dashes), or None if it cannot be one."""
    if not isinstance(raw, str) or len(raw) > 4 * CODE_LENGTH:
        return None
    code = re.sub(r"[\s-]", "", raw).upper()
    if len(code) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in code):
        return None
    return code


def shown_code(code: str) -> str:
    """The code as people read it: two groups of four (the dash is ignored when typed back)."""
    return f"{code[:4]}-{code[4:]}"


def new_student_id() -> str:
    return secrets.token_hex(16)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_answer(student_id, question_id, answer) -> str:
    """The answer's text if the three are acceptable, else RoomError."""
    if not isinstance(student_id, str) or not STUDENT_ID.fullmatch(student_id):
        raise RoomError("not a student id.")
    if not isinstance(question_id, str) or not 0 < len(question_id) <= MAX_QUESTION_ID_CHARS:
        raise RoomError("not a question of this room.")
    if not isinstance(answer, str):
        raise RoomError("an answer is text.")
    answer = " ".join(answer.split())
    if not answer or len(answer) > MAX_ANSWER_CHARS or not answer.isprintable():
        raise RoomError(f"an answer is 1 to {MAX_ANSWER_CHARS} printable characters.")
    return answer


def view_json(view: dict) -> str:
    text = json.dumps(view, sort_keys=True, ensure_ascii=False)
    if len(text.encode()) > MAX_VIEW_BYTES:
        raise RoomError(f"a view is at most {MAX_VIEW_BYTES // 1024} KiB.")
    return text


def question_of(view: dict | None) -> str | None:
    """The poll question id of a published view (None when it asks nothing)."""
    return (view or {}).get("question_id")


class RoomStore(ABC):
    """What the app needs from a room store; see the module docstring for the rules every backend keeps."""

    _listeners: tuple[Callable[[str], None], ...] = ()

    def on_change(self, callback: Callable[[str], None]) -> None:
        """Call `callback(code)` after every publish, reveal or close of a room (a backend whose rooms are
        shared by several processes hears the other processes' changes too)."""
        with _LISTENERS_LOCK:
            self._listeners = (*self._listeners, callback)

    def _changed(self, code: str) -> None:
        """Tell the listeners (a listener's failure must not fail the teacher's write: it is dropped)."""
        for callback in self._listeners:
            try:
                callback(code)
            except Exception:  # noqa: BLE001 - a listener is the app's business; the write has happened
                pass

    @abstractmethod
    def create_room(self) -> tuple[str, str]:
        """(code, teacher token) of a new, empty room."""

    @abstractmethod
    def room(self, code: str) -> RoomState | None:
        """The room's state, or None when the code is unknown or expired (reading does not keep it alive)."""

    @abstractmethod
    def publish(self, code: str, token: str, view: dict) -> int:
        """Set the teacher's current view (a new question starts unrevealed); the new version."""

    @abstractmethod
    def reveal(self, code: str, token: str) -> None:
        """Show the current question's answer to the students."""

    @abstractmethod
    def answer(self, code: str, student_id: str, question_id: str, answer: str) -> None:
        """Record (or replace) one student's answer to the room's current question."""

    @abstractmethod
    def answers(self, code: str, question_id: str) -> list[str]:
        """The answers to a question, without who gave them."""

    @abstractmethod
    def close(self, code: str, token: str) -> None:
        """End the room now (its code stops working)."""


def open_store(url: str | None = None) -> RoomStore:
    """Redis at `url` (default: MOEVIZ_REDIS_URL) when given, else a store in this process's memory."""
    url = os.environ.get("MOEVIZ_REDIS_URL", "") if url is None else url
    if url.strip():
        from moeviz.rooms.redis_store import RedisStore
        return RedisStore.from_url(url.strip())
    from moeviz.rooms.memory import InProcessStore
    return InProcessStore()


def same_token(token, digest: str) -> bool:
    return isinstance(token, str) and hmac.compare_digest(token_digest(token), digest)


__all__ = ["RoomStore", "RoomState", "RoomError", "open_store", "new_code", "normalize_code", "shown_code",
           "new_student_id", "CODE_ALPHABET", "CODE_LENGTH", "CODE_COUNT", "IDLE_SECONDS", "MAX_ANSWERS",
           "MAX_ANSWER_CHARS", "MAX_ROOMS", "question_of"]
