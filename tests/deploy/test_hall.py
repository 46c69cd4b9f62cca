"""A real hall on loopback ports (`bash deploy/hall.sh up 3`: nginx with cookie affinity, Redis, three Streamlit
processes), driven by light WebSocket clients and Debian's Chromium.

- sessions spread over all three processes, and nginx sends every request of one browser to one process;
- uploads (a trace file on /heatmap, a lesson file) and downloads (the page's "Trace (JSON)", the lesson's HTML
  hand-out) work in a session on each process;
- without affinity (nginx reloaded with the round-robin variant) the page's self-check fires (screenshots at
  1920, 1024, 390 px);
- a process killed mid-lesson: its browser reconnects to another process and shows the same view from its link,
  while a session on another process goes on as before; then the process of a student who follows a class room
  (started from the app's sidebar) is killed, and the student's browser follows the same room again from another
  process (the room is in Redis). The hall keeps one process at the end.
"""
from __future__ import annotations

import asyncio
import json
import re
import sys
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from _harness import (REPO_ROOT as ROOT, assert_no_exception, collect_errors, open_app, open_sidebar_panel, screenshot,
                      wait_for_app)
from _hall import Hall
from conftest import require_hall_packages
from streamlit_client import Session

from moeviz import MoEConfig, MoELayer
from moeviz.hf.model import CheckpointRouting
from moeviz.hf.tracefile import read_trace, routing_json

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.alone]  # a hall of its own: see pytest.ini

AFFINITY_WARNING = "Uploads and downloads will fail here"
LOG_LINE = re.compile(r"upstream=(?P<upstream>\S+) key=(?P<key>\S+)")


def in_thread(coroutine):
    """Run a light client's coroutine on its own loop (sync Playwright owns this thread's)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class LoopThread:
    """An event loop in a thread, for a light session that stays open while the browser test goes on."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine, timeout: float = 180):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


async def open_sessions(url: str, count: int, path: str = "/glossary") -> list[tuple[str, str]]:
    """(process id, affinity cookie) of `count` new sessions, each a new browser to the proxy."""
    async def one():
        async with Session(url, path) as s:
            return s.process_id, s.cookie("moeviz_hall")
    return await asyncio.gather(*(one() for _ in range(count)))


@pytest.fixture(scope="module")
def hall():
    require_hall_packages()
    with Hall(3) as hall:
        yield hall


@pytest.fixture(scope="module")
def key_for(hall) -> dict[str, str]:
    """An affinity cookie for each process: opening sessions until every process has served one."""
    keys: dict[str, str] = {}
    for _ in range(4):
        for process, key in in_thread(open_sessions(hall.url, 8)):
            keys.setdefault(process, key)
        if len(keys) == 3:
            return keys
    pytest.fail(f"32 sessions reached only {sorted(keys)}")


def browser_on(hall_browser, hall, key: str):
    """A new browser (context) that carries the affinity cookie `key`, so the proxy sends it to that process."""
    context = hall_browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(120_000)
    context.add_cookies([{"name": "moeviz_hall", "value": key, "url": hall.url}])
    return context, context.new_page()


def served_by(page) -> str:
    caption = page.get_by_text(re.compile(r"^Served by process")).first
    return caption.inner_text().rsplit(" ", 1)[-1]


def test_sessions_spread_and_each_browser_stays_on_one_process(hall, key_for):
    sessions = in_thread(open_sessions(hall.url, 12))
    assert {process for process, _ in sessions} <= set(hall.names())
    assert len({key for _, key in sessions}) == 12  # each new browser got its own cookie
    upstreams = defaultdict(set)  # every request of one cookie, as nginx logged it
    for m in LOG_LINE.finditer(hall.access_log()):
        upstreams[m["key"]].add(m["upstream"])
    assert upstreams and all(len(u) == 1 for u in upstreams.values()), upstreams
    assert len({next(iter(u)) for u in upstreams.values()}) == 3  # and together they used every process


def trace_file() -> bytes:
    """A real routing trace in the format /heatmap opens: a seeded moeviz layer on six tokens."""
    layer = MoELayer(MoEConfig(d_model=16, d_hidden=32, num_experts=8, top_k=2, seed=0, device="cpu"))
    words = ("Every", "process", "holds", "its", "own", "sessions")
    _, trace = layer(torch.randn(len(words), 16, generator=torch.Generator().manual_seed(0)))
    routing = CheckpointRouting("hall-check", "moeviz", " ".join(words), tuple(range(len(words))), words,
                                (trace,), (0,), ())
    return routing_json(routing).encode()


def test_upload_and_download_work_in_a_session_on_every_process(hall, key_for, hall_browser):
    data = trace_file()
    context, page = browser_on(hall_browser, hall, key_for["app-1"])  # one browser, moved by its cookie
    try:
        for process in hall.names():
            context.clear_cookies()
            context.add_cookies([{"name": "moeviz_hall", "value": key_for[process], "url": hall.url}])
            open_app(page, hall.url, "/heatmap", timeout_ms=120_000)  # a new session on `process`
            assert served_by(page) == process
            page.locator('.st-key-trace_upload input[type="file"]').set_input_files(
                files=[{"name": "trace.json", "mimeType": "application/json", "buffer": data}])
            page.get_by_text("Showing the uploaded trace").first.wait_for(timeout=120_000)
            wait_for_app(page, timeout_ms=120_000)
            assert_no_exception(page)
            with page.expect_download() as download:
                page.get_by_role("button", name="Trace (JSON)").click()
            assert download.value.failure() is None
            back = read_trace(open(download.value.path(), "rb").read())
            assert back.tokens == read_trace(data).tokens and back.text == "Every process holds its own sessions"
            _lesson_upload_and_handout(page)
            assert page.get_by_text(AFFINITY_WARNING).count() == 0
    finally:
        context.close()


LESSON = ROOT / "moeviz/lessons/shipped/moe-at-scale.json"


def _lesson_upload_and_handout(page) -> None:
    """A lesson file uploaded in the sidebar's Lesson panel, then its HTML hand-out downloaded: both are files
    that live in one process's memory, so both fail without affinity."""
    open_sidebar_panel(page, "Lesson")
    page.locator('.st-key-lesson_upload input[type="file"]').set_input_files(str(LESSON))
    page.get_by_text("from the uploaded file").first.wait_for(timeout=120_000)
    wait_for_app(page, timeout_ms=120_000)
    with page.expect_download(timeout=120_000) as handout:
        page.locator(".st-key-lesson_html button").first.click()
    assert handout.value.failure() is None
    html = open(handout.value.path(), encoding="utf-8").read()
    assert json.loads(LESSON.read_text())["title"] in html


def test_without_affinity_the_page_says_what_to_fix(hall, hall_browser):
    hall.rebalance("round-robin")  # the same processes, nginx reloaded without affinity
    context = hall_browser.new_context(viewport={"width": 1920, "height": 1080})
    context.set_default_timeout(120_000)
    page = context.new_page()
    try:
        open_app(page, hall.url, "/glossary", timeout_ms=120_000)
        page.get_by_text(AFFINITY_WARNING).first.wait_for(timeout=60_000)
        # the warning's own box: the sidebar's "no knob acts here" box comes before it on /glossary
        warning = page.locator('[data-testid="stAlert"]').filter(has_text=AFFINITY_WARNING).first
        assert f"process {served_by(page)}" in warning.inner_text()
        assert re.search(r'"GET /media/\S+ HTTP/1.1" 404', hall.access_log())  # the probe's misses
        for width, height in ((1920, 1080), (1024, 768), (390, 844)):
            page.set_viewport_size({"width": width, "height": height})
            page.wait_for_timeout(300)
            screenshot(page, f"hall-affinity-warning-{width}", full_page=False)
    finally:
        context.close()
        hall.rebalance("cookie")


def kill_and_reconnect(hall, victim: str, page) -> None:
    """SIGKILL process `victim`; return once `page` (served by it) has reconnected to another process and drawn."""
    hall.kill(victim)
    page.wait_for_function("""(victim) => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
        .some(e => e.innerText.startsWith('Served by process') && !e.innerText.endsWith(victim))""",
                           arg=victim, timeout=120_000)
    wait_for_app(page, timeout_ms=120_000)
    assert_no_exception(page)


def _view(page) -> dict:
    """What the learner sees of the lesson: the link's values, the step, and the answer for the token."""
    answer = page.locator('[data-testid="stMarkdown"]', has_text="experts run").first.inner_text()
    step = page.get_by_text(re.compile(r"^Step \d / 6")).first.inner_text()
    query = dict(part.split("=", 1) for part in page.url.split("?", 1)[1].split("&"))
    return {"query": query, "step": step, "answer": answer}


def test_a_killed_process_loses_no_view_and_no_other_session(hall, key_for, hall_browser):
    victim, bystander = "app-1", "app-2"
    context, page = browser_on(hall_browser, hall, key_for[victim])

    loop = LoopThread()  # a student on another process, connected before the crash and still after it
    other = Session(hall.url, "/glossary?top_k=2", cookie=f"moeviz_hall={key_for[bystander]}")
    loop.run(other.__aenter__())
    assert other.process_id == bystander
    try:
        open_app(page, hall.url, "/?num_experts=8&top_k=2&token=3", timeout_ms=120_000)
        assert served_by(page) == victim
        page.locator('.st-key-top_k input[type="range"]').press("ArrowRight")  # k: 2 -> 3, a knob
        page.get_by_text("top-3 routing").first.wait_for()
        page.get_by_role("button", name="Next →").click()  # step 1 -> 2
        page.get_by_text("Step 2 / 6").first.wait_for()
        wait_for_app(page)
        before = _view(page)
        assert before["query"]["top_k"] == "3" and before["query"]["token"] == "3"

        kill_and_reconnect(hall, victim, page)
        assert served_by(page) in set(hall.names()) - {victim}
        assert _view(page) == before  # page, step, token, knobs: the same view, rebuilt from the link
        assert page.get_by_text(AFFINITY_WARNING).count() == 0  # a crash is not broken affinity
        ms = loop.run(other.set_slider("top_k", 3))  # the same session, on the same WebSocket
        assert other.process_id == bystander and other.shows("Served by process") and ms < 60_000
    finally:
        context.close()
        loop.run(other.__aexit__())
        loop.close()


def _failure_record(page, name: str) -> None:
    """A failed step's evidence for CI's artifacts: the page's screenshot, its link and its console errors."""
    try:
        screenshot(page, name, full_page=False)
        print(f"{name} at {page.url}; errors: {getattr(page, 'console_errors', [])}", file=sys.stderr)
    except Exception as e:  # the page may be gone; the failure itself matters more
        print(f"could not record {name}: {e}", file=sys.stderr)


def _start_room(teacher) -> str:
    """The teacher's sidebar: Class room → Start a class room; the code from the join link it shows."""
    open_sidebar_panel(teacher, "Class room")
    teacher.locator(".st-key-room_start button").first.click()
    wait_for_app(teacher, timeout_ms=120_000)
    link = teacher.locator(".st-key-room_panel code").first.inner_text().strip()
    return link.split("room=")[1][:8]


def _url_has(page, part: str, timeout_ms: int = 60_000) -> None:
    page.wait_for_function("(part) => location.href.includes(part)", arg=part, timeout=timeout_ms, polling=100)


def test_a_room_outlives_the_process_of_a_following_student(hall, key_for, hall_browser):
    """A class room started from the app's sidebar, a student following it on another process; that process is
    killed (last test: the hall keeps one). The student's browser reconnects to the surviving process and, from
    its link (`room=CODE`), follows the same room again: the room's state is in Redis, not in the dead process."""
    teacher_process, student_process = "app-2", "app-3"
    t_context, teacher = browser_on(hall_browser, hall, key_for[teacher_process])
    s_context, student = browser_on(hall_browser, hall, key_for[student_process])
    student.console_errors = collect_errors(student)
    teacher.console_errors = collect_errors(teacher)
    try:
        open_app(teacher, hall.url, "/?trained=0&step=1", timeout_ms=120_000)
        assert served_by(teacher) == teacher_process
        code = _start_room(teacher)
        open_app(student, hall.url, f"/?room={code}", timeout_ms=120_000)
        assert served_by(student) == student_process
        student.get_by_text("Following the teacher").first.wait_for(timeout=60_000)
        teacher.get_by_role("button", name="Next →").click()  # step 1 -> 2, published to Redis
        _url_has(student, "step=2")
        wait_for_app(student, timeout_ms=120_000)

        kill_and_reconnect(hall, student_process, student)
        assert served_by(student) == teacher_process  # the only process left
        student.get_by_text("Following the teacher").first.wait_for(timeout=60_000)  # joined again from its link
        assert f"room={code}" in student.url and "step=2" in student.url
        assert student.get_by_text(AFFINITY_WARNING).count() == 0

        wait_for_app(teacher, timeout_ms=120_000)
        teacher.get_by_role("button", name="Next →").click()  # the teacher goes on: step 2 -> 3
        _url_has(student, "step=3")  # and the student, on a new session of another process, follows
        assert served_by(teacher) == teacher_process and teacher.get_by_text("Class room").count()
    except Exception:
        for name, page in (("teacher", teacher), ("student", student)):
            _failure_record(page, f"FAILED-hall-room-{name}")
        print(f"the hall's logs, last 4000 characters:\n{hall.logs()[-4000:]}", file=sys.stderr)
        raise
    finally:
        t_context.close()
        s_context.close()
