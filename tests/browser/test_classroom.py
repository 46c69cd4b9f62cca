"""Classroom features in Chromium: every existing page in presenter mode (screenshots), the variants page's
downloads, and a quiz answered and revealed."""
from __future__ import annotations

import csv
import io

import pytest
from _harness import assert_no_console_errors, assert_no_exception, open_app, screenshot, wait_for_app

from moeviz.app import PAGES
from moeviz.export import CSV_COLUMNS


@pytest.mark.parametrize("page_info", PAGES, ids=lambda p: p.url.strip("/") or "home")
def test_page_in_presenter_mode(page, streamlit_server, page_info):
    open_app(page, streamlit_server, f"{page_info.url}?present=1&hide=seed")
    assert_no_exception(page)
    assert page.evaluate("getComputedStyle(document.documentElement).fontSize") == "20px"
    assert page.locator(".st-key-seed").first.is_hidden()
    assert page.get_by_test_id("stSidebar").get_attribute("data-collapsed") == "true"
    path = screenshot(page, f"presenter-{page_info.url.strip('/') or 'home'}")
    assert path.stat().st_size > 10_000
    assert_no_console_errors(page)


def test_locked_control_ignores_the_keyboard(page, streamlit_server):
    open_app(page, streamlit_server, "/?present=1&lock=top_k&num_experts=8&top_k=2")
    assert_no_exception(page)
    page.get_by_test_id("stExpandSidebarButton").click()  # presenter mode collapsed the sidebar
    slider = page.locator('.st-key-top_k input[type="range"]')
    slider.wait_for(state="attached")
    assert slider.is_disabled()
    slider.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_timeout(1500)  # a rerun, if one were started, would have rewritten the link by now
    wait_for_app(page)
    assert "top_k=2" in page.url and "top_k=3" not in page.url
    assert_no_console_errors(page)


def test_variants_downloads_parse_back(page, streamlit_server):
    open_app(page, streamlit_server, "/variants?text=Experts+take+turns&capacity_factor=0.5")
    assert_no_exception(page)
    with page.expect_download() as info:
        page.get_by_role("button", name="Trace as CSV").click()
    rows = list(csv.DictReader(io.StringIO(open(info.value.path(), encoding="utf-8").read())))
    assert tuple(rows[0]) == CSV_COLUMNS
    # olmoe-tiny's subwords: token_text is the real text (a leading space is a space), token_label the page's ␣
    pieces = {int(r["token_index"]): r["token_text"] for r in rows}
    labels = {int(r["token_index"]): r["token_label"] for r in rows}
    assert "".join(pieces[t] for t in sorted(pieces)) == "Experts take turns"
    assert [labels[t] for t in sorted(labels)] == [pieces[t].replace(" ", "␣") for t in sorted(pieces)]
    with page.expect_download() as info:
        page.get_by_role("button", name="Figure as HTML (works offline)").click()
    html = open(info.value.path(), encoding="utf-8").read()
    assert "plotly-graph-div" in html and "experts per token" in html
    screenshot(page, "variants-downloads")
    assert_no_console_errors(page)


def test_quiz_reveal(page, streamlit_server):
    open_app(page, streamlit_server, "/quiz?q=7")
    assert_no_exception(page)
    page.get_by_role("button", name="Reveal the answer").click()
    # Wait for the outcome itself: on a busy machine the rerun can start later than wait_for_app's settle time.
    page.get_by_text("0 / 1").wait_for(timeout=60_000)  # nothing picked counts as a wrong answer
    wait_for_app(page)
    assert_no_exception(page)
    assert page.get_by_text("Score this session").is_visible()
    screenshot(page, "quiz-revealed")
    assert_no_console_errors(page)


def test_walkthrough_handout_downloads(page, streamlit_server):
    open_app(page, streamlit_server, "/?text=%3Cb%3Ebold%3C%2Fb%3E+words+route")
    assert_no_exception(page)
    with page.expect_download() as info:
        page.get_by_role("button", name="Handout: the six steps with these numbers (HTML)").click()
    handout = open(info.value.path(), encoding="utf-8").read()
    assert handout.count("<h2>") == 6 and "&lt; b &gt;" in handout  # the tokens "<", "b", ">" escaped
    assert_no_console_errors(page)
