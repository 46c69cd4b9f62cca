"""A real hall on loopback ports (`bash deploy/hall.sh up 3`: nginx with cookie affinity, Redis, three Streamlit
processes), driven by light WebSocket clients and Debian's Chromium.

- sessions spread over all three processes, and nginx sends every request of one browser to one process;
- an upload (a trace file on /heatmap) and a download (the page's "Trace (JSON)") work in a session on each process;
- without affinity (nginx reloaded with the round-robin variant) the page's self-check fires (screenshots at
  1920, 1024, 390 px);
- a process killed mid-lesson (last: the hall keeps two): its browser reconnects to another process and shows the
  same view from its link, while a session on another process goes on as before.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from _harness import assert_no_exception, open_app, screenshot, wait_for_app
from _hall import Hall
from conftest import require_hall_packages
from streamlit_client import Session

from moeviz import MoEConfig, MoELayer
from moeviz.hf.model import CheckpointRouting
from moeviz.hf.tracefile import read_trace, routing_json

pytestmark = [pytest.mark.slow, pytest.mark.browser]

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
            assert page.get_by_text(AFFINITY_WARNING).count() == 0
    finally:
        context.close()


def test_without_affinity_the_page_says_what_to_fix(hall, hall_browser):
    hall.rebalance("round-robin")  # the same processes, nginx reloaded without affinity
    context = hall_browser.new_context(viewport={"width": 1920, "height": 1080})
    context.set_default_timeout(120_000)
    page = context.new_page()
    try:
        open_app(page, hall.url, "/glossary", timeout_ms=120_000)
        page.get_by_text(AFFINITY_WARNING).first.wait_for(timeout=60_000)
        assert f"process {served_by(page)}" in page.locator('[data-testid="stAlert"]').first.inner_text()
        assert re.search(r'"GET /media/\S+ HTTP/1.1" 404', hall.access_log())  # the probe's misses
        for width, height in ((1920, 1080), (1024, 768), (390, 844)):
            page.set_viewport_size({"width": width, "height": height})
            page.wait_for_timeout(300)
            screenshot(page, f"hall-affinity-warning-{width}", full_page=False)
    finally:
        context.close()
        hall.rebalance("cookie")


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

        hall.kill(victim)
        page.wait_for_function("""(victim) => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
            .some(e => e.innerText.startsWith('Served by process') && !e.innerText.endsWith(victim))""",
                               arg=victim, timeout=120_000)
        wait_for_app(page, timeout_ms=120_000)
        assert_no_exception(page)
        assert served_by(page) in set(hall.names()) - {victim}
        assert _view(page) == before  # page, step, token, knobs: the same view, rebuilt from the link
        assert page.get_by_text(AFFINITY_WARNING).count() == 0  # a crash is not broken affinity
        ms = loop.run(other.set_slider("top_k", 3))  # the same session, on the same WebSocket
        assert other.process_id == bystander and other.shows("Served by process") and ms < 60_000
    finally:
        context.close()
        loop.run(other.__aexit__())
        loop.close()


WRITER = """
import json, sys
from moeviz.rooms import open_store
store = open_store()  # MOEVIZ_REDIS_URL: the hall's Redis
code, token = store.create_room()
store.publish(code, token, {"page": "/", "params": {"top_k": "3", "step": "2"}, "title": "Top-k"})
print(json.dumps([code, token]), flush=True)
sys.stdin.read()  # an app process mid-lesson: alive until killed
"""


def test_a_room_outlives_the_process_that_made_it(hall):
    """A room's state is in Redis: a process that created and published it dies (SIGKILL), and any other process
    reading the same Redis sees the room, and the teacher's token still writes to it."""
    rooms = pytest.importorskip("moeviz.rooms")  # the classroom branch's store; runs once it is merged
    url = f"redis://127.0.0.1:{hall.redis_port}/0"
    writer = subprocess.Popen([sys.executable, "-c", WRITER], env=dict(os.environ, MOEVIZ_REDIS_URL=url),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        code, token = json.loads(writer.stdout.readline())
    finally:
        os.killpg(writer.pid, signal.SIGKILL)
        writer.wait(10)
    store = rooms.open_store(url)
    state = store.room(code)
    assert state is not None and state.view["params"] == {"top_k": "3", "step": "2"}
    assert store.publish(code, token, {"page": "/heatmap", "params": {}, "title": "Heatmap"}) == state.version + 1
