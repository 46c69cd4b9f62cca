"""The default room store: this server process's memory (one process, nothing to install). Thread-safe."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

from moeviz.rooms import store as rules
from moeviz.rooms.store import RoomError, RoomState, RoomStore


@dataclass
class _Room:
    token_digest: str
    touched: float
    version: int = 0
    view: str | None = None  # JSON text, as Redis keeps it
    revealed: bool = False
    answers: dict[str, dict[str, str]] = field(default_factory=dict)  # question id -> {student id: answer}


class InProcessStore(RoomStore):
    def __init__(self, idle_seconds: float = rules.IDLE_SECONDS, max_rooms: int = rules.MAX_ROOMS, clock=time.monotonic):
        self.idle_seconds, self.max_rooms, self._clock = idle_seconds, max_rooms, clock
        self._rooms: dict[str, _Room] = {}
        self._lock = threading.Lock()

    def _live(self, code) -> _Room | None:
        room = self._rooms.get(code) if isinstance(code, str) else None
        if room is not None and self._clock() - room.touched > self.idle_seconds:
            del self._rooms[code]
            return None
        return room

    def _teacher(self, code, token) -> _Room:
        room = self._live(code)
        if room is None:
            raise RoomError("this room has ended or never existed.")
        if not rules.same_token(token, room.token_digest):
            raise RoomError("only the room's teacher can change it.")
        room.touched = self._clock()
        return room

    def create_room(self) -> tuple[str, str]:
        import secrets
        token = secrets.token_urlsafe(24)
        with self._lock:
            for code in list(self._rooms):
                self._live(code)  # drops the expired ones
            if len(self._rooms) >= self.max_rooms:
                raise RoomError(f"this server already holds {self.max_rooms} class rooms; try again later.")
            code = rules.new_code()
            while code in self._rooms:
                code = rules.new_code()
            self._rooms[code] = _Room(rules.token_digest(token), self._clock())
        return code, token

    def room(self, code) -> RoomState | None:
        with self._lock:
            room = self._live(code)
            if room is None:
                return None
            return RoomState(code, room.version, None if room.view is None else json.loads(room.view), room.revealed)

    def publish(self, code, token, view: dict) -> int:
        text = rules.view_json(view)
        with self._lock:
            room = self._teacher(code, token)
            old = None if room.view is None else rules.question_of(json.loads(room.view))
            if rules.question_of(view) != old:
                room.revealed = False
            room.view, room.version = text, room.version + 1
            version = room.version
        self._changed(code)
        return version

    def reveal(self, code, token) -> None:
        with self._lock:
            room = self._teacher(code, token)
            room.revealed, room.version = True, room.version + 1
        self._changed(code)

    def answer(self, code, student_id, question_id, answer) -> None:
        answer = rules.check_answer(student_id, question_id, answer)
        with self._lock:
            room = self._live(code)
            if room is None:
                raise RoomError("this room has ended or never existed.")
            if room.view is None or rules.question_of(json.loads(room.view)) != question_id:
                raise RoomError("the teacher has moved on: that question is not open any more.")
            given = room.answers.setdefault(question_id, {})
            if student_id not in given and len(given) >= rules.MAX_ANSWERS:
                raise RoomError(f"this question already has {rules.MAX_ANSWERS} answers.")
            given[student_id] = answer
            room.touched = self._clock()

    def answers(self, code, question_id) -> list[str]:
        with self._lock:
            room = self._live(code)
            return [] if room is None else list(room.answers.get(question_id, {}).values())

    def close(self, code, token) -> None:
        with self._lock:
            self._teacher(code, token)
            del self._rooms[code]
        self._changed(code)
