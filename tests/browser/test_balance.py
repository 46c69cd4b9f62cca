"""/balance in Chromium: the default run is shown at once, its small chart titles stay apart at every width; a run
trains live (progress and charts appear while it runs), finishes, and can be stopped."""
from __future__ import annotations

import re

import pytest

from _harness import assert_no_console_errors, assert_no_exception, open_app, screenshot, wait_for_app


def _button(page, name: str):
    return page.get_by_role("button", name=name, exact=True)


@pytest.mark.timeout(300)
def test_balance_trains_live_and_keeps_the_run(page, streamlit_server):
    open_app(page, streamlit_server, "/balance?balance_weight=0&num_experts=8&top_k=2")
    assert_no_exception(page)
    _button(page, "Train").click()
    page.get_by_text("What this run shows").wait_for(timeout=120_000)
    wait_for_app(page, timeout_ms=120_000)
    assert_no_exception(page)
    main = page.get_by_test_id("stMain")
    assert main.get_by_test_id("stPlotlyChart").count() >= 4  # load heatmap, losses, health, assignment
    assert main.get_by_text("max / mean load").count() >= 1
    assert main.get_by_text("What this run shows").count() == 1
    assert "finished" in main.inner_text()
    screenshot(page, "balance")
    main.get_by_test_id("stPlotlyChart").nth(3).scroll_into_view_if_needed()  # the app scrolls inside stMain
    screenshot(page, "balance-results")
    assert_no_console_errors(page)


@pytest.mark.timeout(300)
def test_balance_charts_update_live_and_stop_keeps_the_partial_run(page, streamlit_server):
    # 64 experts, k = 8: slow enough per step that Stop lands mid-run even on a quiet machine
    open_app(page, streamlit_server, "/balance?balance_weight=0.3&num_experts=64&top_k=8")
    page.get_by_role("slider", name=re.compile("Training steps")).focus()
    page.keyboard.press("End")  # 1000 steps: long enough to stop midway
    wait_for_app(page)
    _button(page, "Train").click()
    # Live: while the script still runs, the progress bar counts steps and the charts are already drawn.
    page.get_by_text(re.compile(r"Training: step \d+ / 1000")).wait_for(timeout=60_000)
    page.get_by_test_id("stPlotlyChart").first.wait_for(timeout=60_000)
    assert page.get_by_text("Results", exact=True).count() == 0  # still training
    screenshot(page, "balance-training")
    # force: while the charts redraw every few steps the button never looks "stable" to Playwright, which
    # would otherwise hold the click back until training had finished.
    _button(page, "Stop").click(force=True)
    wait_for_app(page, timeout_ms=120_000)
    assert_no_exception(page)
    text = page.get_by_test_id("stMain").inner_text()
    assert "stopped at step" in text and "of 1000" in text
    screenshot(page, "balance-stopped")
    assert_no_console_errors(page)


# The title and subplot titles of the chart whose title starts with `title`, as boxes in page pixels.
TITLE_BOXES_JS = """(title) => {
  for (const gd of document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot')) {
    const head = gd.querySelector('.gtitle');
    if (!head || !head.textContent.startsWith(title)) continue;
    const svg = gd.querySelector('.main-svg').getBoundingClientRect();
    return {chart: {left: svg.left, right: svg.right},
            titles: [...gd.querySelectorAll('.gtitle, .annotation-text')].map(e => {
              const r = e.getBoundingClientRect();
              return {text: e.textContent, left: r.left, right: r.right, top: r.top, bottom: r.bottom}; })};
  }
  return null;
}"""


def _overlap(a: dict, b: dict) -> bool:
    return a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]


@pytest.mark.timeout(300)
def test_routing_health_titles_stay_apart_at_every_width(page, streamlit_server):
    """Before: five panels in a row, and at 1024 and 390 px their titles ran into each other. The default run is
    shown without a click, so the chart is there when the page opens."""
    for width in (1920, 1024, 390):
        page.set_viewport_size({"width": width, "height": 900})
        open_app(page, streamlit_server, "/balance")
        assert_no_exception(page)
        chart = page.get_by_test_id("stPlotlyChart").filter(has_text="Routing health")
        chart.wait_for(timeout=120_000)
        chart.scroll_into_view_if_needed()
        found = page.evaluate(TITLE_BOXES_JS, "Routing health")
        assert found and len(found["titles"]) == 6, found  # the chart's title and its five panels'
        titles = found["titles"]
        clashes = [(a["text"], b["text"]) for i, a in enumerate(titles) for b in titles[i + 1:] if _overlap(a, b)]
        assert not clashes, f"{width} px: overlapping titles {clashes}"
        cut = [t["text"] for t in titles if t["left"] < found["chart"]["left"] - 1
               or t["right"] > found["chart"]["right"] + 1]
        assert not cut, f"{width} px: titles cut at the chart's edge {cut}"
        screenshot(page, f"balance-default-{width}")
    assert_no_console_errors(page)
