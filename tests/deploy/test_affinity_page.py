"""The sticky-routing self-check on a page (AppTest): what it draws alone, behind a proxy, and when the browser's
probe found requests answered by another process. (The probe itself runs in Chromium: tests/deploy/test_hall.py.)"""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from moeviz.app import affinity

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def page(monkeypatch):
    def run(process_id: str | None = None, result: dict | None = None) -> AppTest:
        if process_id is None:
            monkeypatch.delenv(affinity.PROCESS_ID_ENV, raising=False)
        else:
            monkeypatch.setenv(affinity.PROCESS_ID_ENV, process_id)
        affinity.process_id.cache_clear()
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
        at.switch_page("pages/7_glossary.py")  # a light page: the sidebar is the same on every page
        if result is not None:
            at.session_state[affinity.RESULT_KEY] = result
        return at.run()
    yield run
    affinity.process_id.cache_clear()


def captions(at) -> list[str]:
    return [c.value for c in at.sidebar.caption]


def test_alone_it_draws_nothing(page):
    at = page()
    assert not at.exception
    assert not any("Served by process" in c for c in captions(at)) and not at.warning


def test_a_named_process_says_which_one_serves_this_browser(page):
    at = page("app-7")
    assert not at.exception
    assert "Served by process `app-7`" in captions(at)
    assert not at.warning


def test_requests_answered_elsewhere_put_the_fix_above_the_page(page):
    at = page("app-7", {"tries": 6, "answered": 6, "elsewhere": 2})
    assert not at.exception
    [warning] = [w.value for w in at.main.warning]
    assert "`app-7`" in warning and "2 of 6" in warning
    for fix in ("hash $cookie_moeviz_hall consistent", "nginx.ingress.kubernetes.io/affinity: cookie", "ip_hash",
                "docs/deploy.md"):
        assert fix in warning


def test_a_clean_probe_warns_of_nothing(page):
    assert not page("app-7", {"tries": 6, "answered": 6, "elsewhere": 0}).warning


def test_a_process_id_is_plain_text(monkeypatch):
    monkeypatch.setenv(affinity.PROCESS_ID_ENV, "pod `x`<b>")
    affinity.process_id.cache_clear()
    try:
        assert affinity.process_id() == "pod__x__b_"
    finally:
        affinity.process_id.cache_clear()
