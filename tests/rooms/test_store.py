"""Both room stores keep the same rules: the in-process one, and Redis against a real redis-server (no mock)."""
import threading
import time

import pytest

from moeviz.rooms import (CODE_ALPHABET, CODE_COUNT, CODE_LENGTH, MAX_ANSWER_CHARS, RoomError, new_student_id,
                          normalize_code, open_store, shown_code)
from moeviz.rooms import store as rules
from moeviz.rooms.memory import InProcessStore
from moeviz.rooms.redis_store import RedisStore
from tests.redis_server import RedisServer, require_redis_server


@pytest.fixture(scope="module")
def redis_url():
    require_redis_server()
    with RedisServer() as server:
        yield server.url


@pytest.fixture(params=["memory", "redis"])
def store(request):
    if request.param == "memory":
        return InProcessStore()
    return open_store(request.getfixturevalue("redis_url"))


VIEW = {"page": "/", "params": {"step": "3"}, "title": "Top-k", "question_id": "quiz:7:which_experts"}


def test_codes_are_random_and_typed_back():
    assert CODE_COUNT == len(CODE_ALPHABET) ** CODE_LENGTH > 8e11
    codes = {rules.new_code() for _ in range(2000)}
    assert len(codes) == 2000 and all(normalize_code(c) == c for c in codes)
    code = codes.pop()
    assert normalize_code(" " + shown_code(code).lower() + " ") == code
    for bad in ("", "0000OOOO", "ABCD", "ABCDEFGH1", "<script>", None, "9" * 100_000):
        assert normalize_code(bad) is None


def test_open_store_picks_the_backend(redis_url, monkeypatch):
    monkeypatch.delenv("MOEVIZ_REDIS_URL", raising=False)
    assert isinstance(open_store(), InProcessStore)
    monkeypatch.setenv("MOEVIZ_REDIS_URL", redis_url)
    assert isinstance(open_store(), RedisStore)


def test_teacher_publishes_and_students_read(store):
    code, token = store.create_room()
    assert store.room(code).version == 0 and store.room(code).view is None
    assert store.publish(code, token, VIEW) == 1
    state = store.room(code)
    assert (state.version, state.view, state.revealed) == (1, VIEW, False)
    store.reveal(code, token)
    assert store.room(code).revealed and store.room(code).version == 2
    # The same question stays revealed when only the view changes; a new question starts hidden.
    store.publish(code, token, {**VIEW, "params": {"step": "4"}})
    assert store.room(code).revealed
    store.publish(code, token, {**VIEW, "question_id": "quiz:8:overflow"})
    assert not store.room(code).revealed


def test_only_the_teacher_writes(store):
    code, token = store.create_room()
    other_code, other_token = store.create_room()
    for wrong in (other_token, "", None, token + "x"):
        with pytest.raises(RoomError, match="teacher"):
            store.publish(code, wrong, VIEW)
        with pytest.raises(RoomError, match="teacher"):
            store.reveal(code, wrong)
        with pytest.raises(RoomError, match="teacher"):
            store.close(code, wrong)
    assert store.room(code).version == 0
    store.close(code, token)
    assert store.room(code) is None and store.room(other_code) is not None


def test_unknown_codes(store):
    for code in ("ZZZZZZZZ", "nonsense", "", None, "../../etc"):
        assert store.room(code) is None
    with pytest.raises(RoomError, match="ended or never existed"):
        store.answer("ZZZZZZZZ", new_student_id(), "q", "E1")


def test_one_answer_per_student_and_bounds(store):
    code, token = store.create_room()
    store.publish(code, token, VIEW)
    qid = VIEW["question_id"]
    alice, bob = new_student_id(), new_student_id()
    store.answer(code, alice, qid, "E1, E3")
    store.answer(code, alice, qid, "E2, E3")  # a student may change their own answer: still one
    store.answer(code, bob, qid, "  E2,   E3 ")
    assert sorted(store.answers(code, qid)) == ["E2, E3", "E2, E3"]
    for bad_answer in ("", "   ", "x" * (MAX_ANSWER_CHARS + 1), "\x00bell", 3):
        with pytest.raises(RoomError):
            store.answer(code, alice, qid, bad_answer)
    for bad_student in ("alice", "0" * 31, None, "G" * 32):
        with pytest.raises(RoomError):
            store.answer(code, bad_student, qid, "E1")
    with pytest.raises(RoomError, match="moved on"):
        store.answer(code, alice, "quiz:99:overflow", "E1")


def test_answers_per_question_are_bounded(store, monkeypatch):
    monkeypatch.setattr(rules, "MAX_ANSWERS", 3)
    if isinstance(store, RedisStore):  # the bound travels into the Lua script as an argument
        import moeviz.rooms.redis_store as redis_store
        monkeypatch.setattr(redis_store.rules, "MAX_ANSWERS", 3)
    code, token = store.create_room()
    store.publish(code, token, VIEW)
    students = [new_student_id() for _ in range(3)]
    for s in students:
        store.answer(code, s, VIEW["question_id"], "E1")
    with pytest.raises(RoomError, match="already has"):
        store.answer(code, new_student_id(), VIEW["question_id"], "E1")
    store.answer(code, students[0], VIEW["question_id"], "E2")  # an existing student may still change theirs
    assert sorted(store.answers(code, VIEW["question_id"])) == ["E1", "E1", "E2"]


def test_views_are_bounded(store):
    code, token = store.create_room()
    with pytest.raises(RoomError, match="KiB"):
        store.publish(code, token, {**VIEW, "title": "x" * (rules.MAX_VIEW_BYTES + 1)})


def test_in_process_rooms_expire_and_are_bounded():
    now = [0.0]
    store = InProcessStore(idle_seconds=60, max_rooms=2, clock=lambda: now[0])
    code, token = store.create_room()
    now[0] = 50
    store.publish(code, token, VIEW)  # a teacher write keeps the room alive
    now[0] = 100
    assert store.room(code) is not None
    store.create_room()
    with pytest.raises(RoomError, match="already holds 2"):
        store.create_room()
    now[0] = 200  # both idle for more than 60 s: gone, and their places free again
    assert store.room(code) is None
    store.create_room()


def test_redis_rooms_expire(redis_url):
    store = RedisStore.from_url(redis_url)
    store.ttl_ms = 300
    code, token = store.create_room()
    store.publish(code, token, VIEW)
    assert store.room(code) is not None
    time.sleep(0.6)
    assert store.room(code) is None


def test_two_processes_share_a_redis_room(redis_url):
    """Two store objects (as in two server processes) see one room; concurrent answers all land, once each."""
    teacher, student_side = RedisStore.from_url(redis_url), RedisStore.from_url(redis_url)
    code, token = teacher.create_room()
    teacher.publish(code, token, VIEW)
    assert student_side.room(code).view == VIEW
    students = [new_student_id() for _ in range(40)]

    def answer(i):
        student_side.answer(code, students[i % 20], VIEW["question_id"], f"E{i % 4}")

    threads = [threading.Thread(target=answer, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(teacher.answers(code, VIEW["question_id"])) == 20


def _heard(store) -> tuple[list[str], threading.Event]:
    """A listener on `store`: the codes it heard, and an event set on each."""
    heard, event = [], threading.Event()

    def listener(code):
        heard.append(code)
        event.set()
    store.on_change(listener)
    return heard, event


def _wait_for(heard: list, count: int, timeout: float = 5.0) -> list:
    deadline = time.monotonic() + timeout
    while len(heard) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return list(heard)


def test_every_change_is_heard_once_and_answers_are_not(store):
    """publish, reveal and close tell the listeners the room's code (once each); a student's answer does not
    (the teacher's tally has its own timer), nor does a refused write."""
    heard, _ = _heard(store)
    code, token = store.create_room()
    store.publish(code, token, VIEW)
    store.answer(code, new_student_id(), VIEW["question_id"], "E1")
    store.reveal(code, token)
    with pytest.raises(RoomError):
        store.publish(code, "not the token", VIEW)
    store.close(code, token)
    assert _wait_for(heard, 3) == [code, code, code]
    time.sleep(0.3)  # nothing more arrives late (Redis: on the listener's thread)
    assert heard == [code, code, code]


def test_a_failing_listener_does_not_fail_the_write():
    store = InProcessStore()
    store.on_change(lambda code: 1 / 0)
    heard, _ = _heard(store)
    code, token = store.create_room()
    assert store.publish(code, token, VIEW) == 1
    assert heard == [code]


def test_another_process_hears_a_redis_change(redis_url):
    """A store object of another server process (its own client and listener thread) hears the teacher's
    publish through Redis pub/sub; so does the teacher's own process."""
    teacher, other = RedisStore.from_url(redis_url), RedisStore.from_url(redis_url)
    heard_here, _ = _heard(teacher)
    heard_there, _ = _heard(other)
    time.sleep(0.5)  # both listener threads have subscribed
    code, token = teacher.create_room()
    teacher.publish(code, token, VIEW)
    assert _wait_for(heard_there, 1) == [code]
    assert _wait_for(heard_here, 1) == [code]
