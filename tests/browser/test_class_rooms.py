"""Classroom mode in Chromium: a teacher and a student (two browser contexts) in a class room, on one server
(in-process store) and on two servers sharing a real redis-server; a lesson saved and opened again; each shipped
lesson played start to end in presenter mode at 1920x1080 and 1024x768 with Next on screen; axe on the new parts.
Screenshots for docs/classroom.md go to docs/images/classroom-*.png; follow delays to artifacts/follow-delays.json.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from _harness import (ARTIFACTS, DEFAULT_TIMEOUT_MS, REPO_ROOT, StreamlitServer, assert_no_console_errors,
                      assert_no_exception, collect_errors, open_app, open_sidebar_panel, screenshot, wait_for_app)

sys.path.insert(0, str(REPO_ROOT))
from moeviz.lessons.folders import available_lessons, open_lesson  # noqa: E402
from tests.redis_server import RedisServer, require_redis_server  # noqa: E402

# No pytest-timeout of their own: its signal interrupts Playwright's sync API mid-call and leaves the session's
# browser unusable for every later test (CI of 2026-12-04); Playwright's own timeouts end a stuck step cleanly.
# conftest.RUN_LAST runs this file after the other browser tests.
# The two follow scenarios must pass every step; only a follow delay over 2 s is reported as an expected failure
# (check_delays), issue 20: on 2 cores it comes with load. History: until 2026-12-04 both were non-strict xfail
# (3 of 30 runs broke in the poll after a lesson start: "Bad delta path index", a blank page, a Send button
# that never took). The WebSocket messages showed two Streamlit faults behind it (moeviz/app/page_timers.py);
# with the class room's timers drawing nothing, last on the page, named by page and deleted before a switch,
# 18 scenario runs passed every step at load 4-10 (2026-12-04, night), and 12 runs of the lesson-start poll
# alone passed.
pytestmark = pytest.mark.alone  # follow delays and servers of its own: not beside other browser tests (pytest.ini)


axe_sync = pytest.importorskip("axe_playwright_python.sync_playwright")

FOLLOW_LIMIT_S = 2.0
DOCS_IMAGES = REPO_ROOT / "docs" / "images"
DELAYS = ARTIFACTS / "follow-delays.json"
NEW_PARTS = (".st-key-lesson_bar", ".st-key-room_student", ".st-key-room_poll", ".st-key-room_teacher",
             ".st-key-lesson_panel", ".st-key-room_panel")


@pytest.fixture
def new_page(request, chromium):
    """Call it for a page in a new browser context (its own Streamlit session). At the end of the test every
    context is closed (a following student's page polls its room every second for as long as it is open), after
    a screenshot of each page if the test failed."""
    contexts = []

    def make(width=1400, height=1000):
        context = chromium.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.console_errors = collect_errors(page)
        return page

    yield make
    report = getattr(request.node, "rep_call", None)  # an expected failure (xfail) reports as skipped: look too
    failed = report is not None and (report.failed or hasattr(report, "wasxfail"))
    for i, context in enumerate(contexts):
        try:
            if failed:
                for page in context.pages:
                    screenshot(page, f"FAILED-{request.node.name}-{i}")
                    print(f"page {i} at {page.url}; errors: {getattr(page, 'console_errors', [])[:3]}",
                          file=sys.stderr)
        finally:
            context.close()


def button(page, key: str):
    """The button of widget `key` (Streamlit 1.67 draws a second, measuring copy of a stretched button)."""
    return page.locator(f".st-key-{key} button").first


def start_room(teacher) -> str:
    open_sidebar_panel(teacher, "Class room")
    button(teacher, "room_start").click()
    wait_for_app(teacher)
    link = teacher.locator(".st-key-room_panel code").first.inner_text().strip()
    assert "room=" in link
    return link.split("room=")[1][:8]


def open_named_lesson(page, name: str) -> None:
    open_sidebar_panel(page, "Lesson")
    panel = page.locator(".st-key-lesson_panel")
    box = panel.get_by_role("combobox", name="Or open one of the server's lessons")
    box.scroll_into_view_if_needed()
    box.click()
    page.keyboard.type(name)  # the selectbox filters its options as one types; Enter takes the first
    page.keyboard.press("Enter")
    wait_for_app(page)
    button(panel, "lesson_open_named").click()
    page.get_by_text("Play it with").first.wait_for()
    wait_for_app(page)


def follow_delay(teacher, student, teacher_action, url_part: str, name: str) -> float:
    """Seconds from the teacher's action until the student's address shows `url_part`, both pages having
    finished drawing: a student who has just joined was still drawing its first charts, and its browser read the
    switch only after them (1 s of a 1.4 s step delay, traced on 2 cores)."""
    wait_for_app(teacher)  # the teacher's last change has finished: the click lands on the page as shown
    wait_for_app(student, placeholders=False)
    for page in (teacher, student):
        idle(page)
    start = time.monotonic()
    start = teacher_action() or start  # an action that had to retry says when the effective one happened
    student.wait_for_function(f"() => window.location.href.includes({json.dumps(url_part)})", timeout=20_000,
                              polling=50)
    delay = time.monotonic() - start
    wait_for_app(student, placeholders=False)  # its follow timer reruns every second
    record_delay(name, delay)
    return delay


def idle(page, timeout_ms: int = 10_000) -> None:
    """Wait until the browser's main thread is idle (it has drawn what it received)."""
    page.evaluate(f"() => new Promise(done => requestIdleCallback(done, {{timeout: {timeout_ms}}}))")


def record_delay(name: str, delay: float) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    data = json.loads(DELAYS.read_text()) if DELAYS.exists() else {}
    data[name] = round(delay, 3)
    DELAYS.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def axe_on_new_parts(page) -> dict:
    """axe-core's serious and critical violations inside the classroom's own parts on the page."""
    present = [[selector] for selector in NEW_PARTS if page.locator(selector).count()]
    assert present
    results = axe_sync.Axe().run(page, context={"include": present})
    return {v["id"]: v["nodes"][0]["target"] for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")}


def shot(page, name: str, width: int) -> Path:
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": width, "height": 900 if width > 500 else 844})
    page.wait_for_timeout(400)
    path = DOCS_IMAGES / f"classroom-{name}-{width}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


def follow_scenario(teacher, student, base_teacher: str, base_student: str, label: str, shots=False) -> dict:
    """The scenario the issue asks for, teacher and student possibly on different servers; the follow delays.
    A failed step saves both pages at once (FAILED-<label>-teacher/student.png), while their servers still run."""
    try:
        return _follow_scenario(teacher, student, base_teacher, base_student, label, shots)
    except Exception:
        for role, page in (("teacher", teacher), ("student", student)):
            try:
                screenshot(page, f"FAILED-{label}-{role}", full_page=False)
            except Exception as e:  # the page may be gone; the failure itself matters more
                print(f"could not save the {role}'s page: {e}", file=sys.stderr)
        raise


def _follow_scenario(teacher, student, base_teacher: str, base_student: str, label: str, shots: bool) -> dict:
    open_app(teacher, base_teacher, "/?trained=0&step=1")
    code = start_room(teacher)
    student.goto(base_student.rstrip("/") + f"/?room={code[:4]}-{code[4:]}", wait_until="domcontentloaded")
    student.get_by_text("Following the teacher").first.wait_for()
    assert "step=1" in student.url and f"room={code}" in student.url
    delays = {
        "step": follow_delay(teacher, student, lambda: teacher.get_by_role("button", name="Next →").click(),
                             "step=2", f"{label}: step"),
        "page": follow_delay(teacher, student, lambda: teacher.get_by_test_id("stSidebar").get_by_role(
            "link", name="Sparse vs dense compute").click(), "/compute", f"{label}: page"),
    }

    def knob():
        """Experts (N) one to the right; returns when the key press took (a press that lands while the page
        redraws its sidebar is lost, as a person's would be; the person presses again, and so does this)."""
        slider = teacher.get_by_test_id("stSidebar").get_by_role("slider").first  # Experts (N)
        for _ in range(5):
            pressed = time.monotonic()
            slider.focus()
            teacher.keyboard.press("ArrowRight")
            try:  # the teacher's own link says the press took
                teacher.wait_for_function("() => location.search.includes('num_experts=9')", timeout=3_000,
                                          polling=50)
                return pressed
            except Exception:
                wait_for_app(teacher)
        raise AssertionError("the teacher's Experts slider did not move")

    delays["knob"] = follow_delay(teacher, student, knob, "num_experts=9", f"{label}: knob")
    student.get_by_text("Sparse vs dense compute").first.wait_for()
    # The poll: the teacher plays a lesson whose first view asks a question.
    open_named_lesson(teacher, "top-k-routing-in-15-minutes")
    button(teacher, "lesson_start").click()
    wait_for_app(teacher)
    student.get_by_text("Predict:").first.wait_for(timeout=20_000)
    assert "step=1" in student.url
    box = student.locator('.st-key-room_poll input[type="number"]')
    box.fill("2")
    box.press("Enter")
    wait_for_app(student, placeholders=False)  # its follow timer reruns every second
    # The poll is not redrawn by the follow timer (classroom._poll_section): one click sends.
    student.locator(".st-key-room_poll button").filter(has_text="Send my answer").click()
    student.get_by_text("Sent: 2").first.wait_for(timeout=20_000)
    teacher.locator(".st-key-room_teacher").get_by_text("Reveal the answer (1 answered)").wait_for(timeout=20_000)
    button(teacher, "room_reveal").click()
    student.get_by_text("Right: your prediction").first.wait_for(timeout=20_000)
    wait_for_app(student, placeholders=False)  # its follow timer reruns every second
    if shots:  # for docs/classroom.md: a projector's and a laptop's width, a laptop's and a phone's
        for page, role, widths in ((teacher, "teacher", (1920, 1024)), (student, "student", (1024, 390))):
            for width in widths:
                shot(page, role, width)
            page.set_viewport_size({"width": 1400, "height": 1000})
    # Explore on my own: the teacher's next view no longer moves the student.
    button(student, "room_explore").click()
    student.get_by_text("Exploring on your own").first.wait_for()
    wait_for_app(student, placeholders=False)  # its follow timer reruns every second
    button(teacher, "lesson_next").click()
    wait_for_app(teacher)
    teacher.wait_for_timeout(2500)
    assert "step=2" not in student.url and "room=" not in student.url
    button(student, "room_follow").click()
    student.wait_for_function("() => window.location.href.includes('step=2')", timeout=20_000)
    wait_for_app(student, placeholders=False)  # its follow timer reruns every second
    return delays


def check_delays(delays: dict) -> None:
    """Last in a test, after everything else passed: the 2 s bound, reported as an expected failure (issue 20)."""
    slow = {name: round(d, 2) for name, d in delays.items() if d >= FOLLOW_LIMIT_S}
    if slow:
        pytest.xfail(f"issue 20: follow delay over {FOLLOW_LIMIT_S} s on this machine: {slow} (all: {delays})")


def test_student_follows_the_teacher(new_page, streamlit_server):
    teacher, student = new_page(), new_page()
    delays = follow_scenario(teacher, student, streamlit_server, streamlit_server, "one server", shots=True)
    for page in (teacher, student):
        assert_no_exception(page)
        assert axe_on_new_parts(page) == {}
        assert_no_console_errors(page)
    check_delays(delays)


def test_two_servers_share_redis(new_page, monkeypatch):
    require_redis_server()
    with RedisServer() as redis:
        monkeypatch.setenv("MOEVIZ_REDIS_URL", redis.url)
        a = StreamlitServer(REPO_ROOT / "app.py", log_path=ARTIFACTS / "streamlit-redis-a.log")
        b = StreamlitServer(REPO_ROOT / "app.py", log_path=ARTIFACTS / "streamlit-redis-b.log")
        with a, b:
            teacher, student = new_page(), new_page()
            delays = follow_scenario(teacher, student, a.url, b.url, "two servers, redis")
            for page in (teacher, student):
                assert_no_exception(page)
                assert_no_console_errors(page)
    check_delays(delays)


def test_a_student_follows_by_push_alone(new_page, monkeypatch):
    """With the students' own poll at once a minute, a step change and a page change still reach the student
    within seconds: the room store's change wakes the student's session (moeviz.app.room_wake)."""
    monkeypatch.setenv("MOEVIZ_FOLLOW_POLL_S", "60")
    with StreamlitServer(REPO_ROOT / "app.py", log_path=ARTIFACTS / "streamlit-push.log") as server:
        teacher, student = new_page(), new_page()
        open_app(teacher, server.url, "/?trained=0&step=1")
        code = start_room(teacher)
        student.goto(server.url.rstrip("/") + f"/?room={code}", wait_until="domcontentloaded")
        student.get_by_text("Following the teacher").first.wait_for()
        wait_for_app(teacher)
        teacher.get_by_role("button", name="Next →").click()
        student.wait_for_function("() => window.location.href.includes('step=2')", timeout=10_000, polling=50)
        wait_for_app(teacher)
        teacher.get_by_test_id("stSidebar").get_by_role("link", name="Sparse vs dense compute").click()
        student.wait_for_function("() => window.location.pathname === '/compute'", timeout=10_000, polling=50)
        student.get_by_text("Following the teacher").first.wait_for()
        for page in (teacher, student):
            assert_no_exception(page)
            assert_no_console_errors(page)


def test_lesson_round_trips_through_save_and_open(new_page, streamlit_server, tmp_path):
    first = new_page()
    open_app(first, streamlit_server, "/?trained=0")
    open_named_lesson(first, "moe-at-scale")
    with first.expect_download() as saved:
        button(first, "lesson_save").click()
    path = tmp_path / "saved.json"
    saved.value.save_as(path)
    second = new_page()
    open_app(second, streamlit_server, "/?trained=0")
    open_sidebar_panel(second, "Lesson")
    second.locator('.st-key-lesson_panel input[type="file"]').set_input_files(str(path))
    second.get_by_text("from the uploaded file").first.wait_for()
    wait_for_app(second)
    with second.expect_download() as again:
        button(second, "lesson_save").click()
    assert Path(again.value.path()).read_text() == path.read_text()
    assert json.loads(path.read_text())["views"] == json.loads(
        (REPO_ROOT / "moeviz/lessons/shipped/moe-at-scale.json").read_text())["views"]
    for page in (first, second):
        assert_no_console_errors(page)


def next_on_screen(page, height: int) -> None:
    box = button(page, "lesson_next").bounding_box()
    assert box and box["y"] >= 0 and box["y"] + box["height"] <= height, box


# Each lesson played once, the sizes alternating (the lesson bar sits on top of every view, so where Next lands
# depends on the screen, not on the view): both sizes are seen, at half the time of every lesson at both.
@pytest.mark.parametrize("name, width, height", [("top-k-routing-in-15-minutes", 1024, 768),
                                                 ("load-balancing", 1920, 1080), ("moe-at-scale", 1024, 768)])
def test_shipped_lessons_play_in_presenter_mode(new_page, streamlit_server, width, height, name):
    views = open_lesson(name, available_lessons(dirs=[])).views
    page = new_page(width, height)
    open_app(page, streamlit_server, "/?present=1&trained=0")
    open_named_lesson(page, name)
    button(page, "lesson_start").click()
    page.get_by_test_id("stSidebarCollapseButton").locator("button").click()  # the projector shows the view
    for i, view in enumerate(views):
        page.locator(".st-key-lesson_bar").get_by_text(f"View {i + 1} of {len(views)}").wait_for()
        wait_for_app(page)
        assert_no_exception(page)
        assert page.url.split("?")[0].rstrip("/").endswith(view.page.rstrip("/"))
        next_on_screen(page, height)
        if i == len(views) - 1:
            assert button(page, "lesson_next").is_disabled()
        elif i % 2:  # a clicker's PageDown moves on, as the button does
            page.evaluate("() => document.activeElement && document.activeElement.blur()")
            page.keyboard.press("PageDown")
        else:
            button(page, "lesson_next").click()
    assert_no_console_errors(page)
