"""The shared room store: Redis, so a class spread over several server processes sees the same rooms.

Start the servers with MOEVIZ_REDIS_URL=redis://host:6379/0. A room is one hash, `moeviz:room:<code>` (fields
token, version, view, question, revealed), and each question's answers another, `...:answers:<digest>`
(student id -> answer); both expire after IDLE_SECONDS without a write. Every write is one Lua script, so
the token check, the bounds and the change happen atomically even with many processes writing at once.
A publish, reveal or close also PUBLISHes the room's code on the channel CHANGED, from the same script; every
process that registered a listener (on_change) hears it on a thread of its own and tells its listeners.
"""
from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
from contextlib import contextmanager

import redis

from moeviz.rooms import store as rules
from moeviz.rooms.store import RoomError, RoomState, RoomStore

PREFIX = "moeviz:room:"
CHANGED = "moeviz:rooms:changed"  # pub/sub channel: the code of a room that was published, revealed or closed
_LOG = logging.getLogger(__name__)

# Each script answers a number: >= 0 success, < 0 one of REFUSED. (The token check compares SHA-256 digests:
# a timing difference there tells nothing about the token itself.)
_CHECK_TEACHER = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return -2 end
"""
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'version', 0, 'revealed', 0, 'question', '')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
_PUBLISH = _CHECK_TEACHER + """
if (redis.call('HGET', KEYS[1], 'question') or '') ~= ARGV[3] then redis.call('HSET', KEYS[1], 'revealed', 0) end
redis.call('HSET', KEYS[1], 'view', ARGV[2], 'question', ARGV[3])
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[6])
return version
"""
_REVEAL = _CHECK_TEACHER + """
redis.call('HSET', KEYS[1], 'revealed', 1)
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return version
"""
_CLOSE = _CHECK_TEACHER + """
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
"""
_ANSWER = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HGET', KEYS[1], 'question') ~= ARGV[1] then return -3 end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 0 and redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[4]) then return -4 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"""
REFUSED = {-1: "this room has ended or never existed.", -2: "only the room's teacher can change it.",
           -3: "the teacher has moved on: that question is not open any more.",
           -4: f"this question already has {rules.MAX_ANSWERS} answers."}


class RedisStore(RoomStore):
    def __init__(self, client: redis.Redis, idle_seconds: float = rules.IDLE_SECONDS):
        self.client, self.ttl_ms = client, int(idle_seconds * 1000)
        self._listening = threading.Lock()  # held for good by the one listener thread, once started
        self._subscribed = threading.Event()  # the listener has subscribed (once; it resubscribes by itself)
        self._scripts = {name: client.register_script(source) for name, source in
                         (("create", _CREATE), ("publish", _PUBLISH), ("reveal", _REVEAL), ("close", _CLOSE),
                          ("answer", _ANSWER))}

    @classmethod
    def from_url(cls, url: str) -> "RedisStore":
        return cls(redis.Redis.from_url(url, decode_responses=True, socket_timeout=2, socket_connect_timeout=2))

    @staticmethod
    def _key(code) -> str:
        return PREFIX + (code if isinstance(code, str) and rules.normalize_code(code) == code else "-")

    def _answers_key(self, code, question_id: str) -> str:
        return f"{self._key(code)}:answers:{hashlib.sha256(question_id.encode()).hexdigest()[:32]}"

    def _run(self, name: str, keys, args) -> int:
        with _reachable():
            result = int(self._scripts[name](keys=keys, args=args))
        if result < 0:
            raise RoomError(REFUSED[result])
        return result

    def create_room(self) -> tuple[str, str]:
        token = secrets.token_urlsafe(24)
        while True:
            code = rules.new_code()
            if self._run("create", [self._key(code)], [rules.token_digest(token), self.ttl_ms]):
                return code, token

    def room(self, code) -> RoomState | None:
        if rules.normalize_code(code) != code:
            return None
        with _reachable():
            fields = self.client.hgetall(self._key(code))
        if not fields:
            return None
        view = json.loads(fields["view"]) if fields.get("view") else None
        return RoomState(code, int(fields.get("version", 0)), view, fields.get("revealed") == "1")

    def publish(self, code, token, view: dict) -> int:
        text = rules.view_json(view)
        return self._run("publish", [self._key(code)], [_digest(token), text, rules.question_of(view) or "",
                                                         self.ttl_ms, CHANGED, code])

    def reveal(self, code, token) -> None:
        self._run("reveal", [self._key(code)], [_digest(token), self.ttl_ms, CHANGED, code])

    def answer(self, code, student_id, question_id, answer) -> None:
        answer = rules.check_answer(student_id, question_id, answer)
        self._run("answer", [self._key(code), self._answers_key(code, question_id)],
                  [question_id, student_id, answer, rules.MAX_ANSWERS, self.ttl_ms])

    def answers(self, code, question_id) -> list[str]:
        if not isinstance(question_id, str):
            return []
        with _reachable():
            return list(self.client.hvals(self._answers_key(code, question_id)))

    def close(self, code, token) -> None:
        self._run("close", [self._key(code)], [_digest(token), CHANGED, code])

    def on_change(self, callback) -> None:
        """Also start (once) the thread that hears every process's changes on the CHANGED channel, and wait
        (at most 2 s) until it listens. In-process changes are heard there too, so _changed is not called
        directly."""
        super().on_change(callback)
        if self._listening.acquire(blocking=False):
            threading.Thread(target=self._listen, name="moeviz-rooms-changed", daemon=True).start()
        self._subscribed.wait(timeout=2.0)

    def _listen(self) -> None:
        """Forever: subscribe to CHANGED and tell the listeners each code heard; after a Redis error, wait a
        second and subscribe again (a change made meanwhile reaches students by their own poll)."""
        failing = False
        while True:
            try:
                pubsub = self.client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(CHANGED)
                self._subscribed.set()
                failing = False
                while True:
                    # A short wait, not listen(): the client's socket timeout (2 s) would end an idle listen().
                    message = pubsub.get_message(timeout=1.0)
                    if message and message.get("type") == "message" and isinstance(message.get("data"), str):
                        self._changed(message["data"])
            except redis.RedisError as problem:
                if not failing:  # once per outage, not once a second
                    _LOG.warning("class rooms: lost Redis pub/sub (%s); subscribing again", type(problem).__name__)
                failing = True
                time.sleep(1.0)


@contextmanager
def _reachable():
    """Redis's own errors (server gone, timeout) as a RoomError the page can show."""
    try:
        yield
    except redis.RedisError as problem:
        raise RoomError(f"the class rooms' store (Redis) did not answer: {type(problem).__name__}.") from None


def _digest(token) -> str:
    return rules.token_digest(token) if isinstance(token, str) else ""
