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
    assert main.get_by_text("busiest ÷ mean load").count() >= 1
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


def chart_js(body: str) -> str:
    """A page function of `title` that runs `body` (JavaScript, ending in a return) on the Plotly chart `gd` whose
    title starts with `title`; null when there is none."""
    return ("""(title) => {
  for (const gd of document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot')) {
    const head = gd.querySelector('.gtitle');
    if (!head || !head.textContent.startsWith(title)) continue;
""" + body + """
  }
  return null;
}""")


# The title and subplot titles of the chart whose title starts with `title`, as boxes in page pixels.
TITLE_BOXES_JS = chart_js("""
    const svg = gd.querySelector('.main-svg').getBoundingClientRect();
    return {chart: {left: svg.left, right: svg.right},
            titles: [...gd.querySelectorAll('.gtitle, .annotation-text')].map(e => {
              const r = e.getBoundingClientRect();
              return {text: e.textContent, left: r.left, right: r.right, top: r.top, bottom: r.bottom}; })};""")

def _overlap(a: dict, b: dict) -> bool:
    return a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]


def _chart_at(page, server: str, size: tuple[int, int], title: str, js: str):
    """/balance opened at `size` (width, height), scrolled to the chart titled `title`; what `js` reads of it."""
    page.set_viewport_size({"width": size[0], "height": size[1]})
    open_app(page, server, "/balance")
    assert_no_exception(page)
    chart = page.get_by_test_id("stPlotlyChart").filter(has_text=title)
    chart.wait_for(timeout=120_000)
    chart.scroll_into_view_if_needed()
    return page.evaluate(js, title)


@pytest.mark.timeout(300)
def test_routing_health_titles_stay_apart_at_every_width(page, streamlit_server):
    """Before: five panels in a row, and at 1024 and 390 px their titles ran into each other. The default run is
    shown without a click, so the chart is there when the page opens."""
    for width in (1920, 1024, 390):
        found = _chart_at(page, streamlit_server, (width, 900), "Routing health", TITLE_BOXES_JS)
        assert found and len(found["titles"]) == 6, found  # the chart's title and its five panels'
        titles = found["titles"]
        clashes = [(a["text"], b["text"]) for i, a in enumerate(titles) for b in titles[i + 1:] if _overlap(a, b)]
        assert not clashes, f"{width} px: overlapping titles {clashes}"
        cut = [t["text"] for t in titles if t["left"] < found["chart"]["left"] - 1
               or t["right"] > found["chart"]["right"] + 1]
        assert not cut, f"{width} px: titles cut at the chart's edge {cut}"
        screenshot(page, f"balance-default-{width}")
    assert_no_console_errors(page)


# The printed cells of the heatmap whose title starts with `title`: font size and width of each, and the plot
# area's size (the cells split it evenly).
CELL_TEXT_JS = chart_js("""
    const plot = gd.querySelector('.nsewdrag').getBoundingClientRect();
    return {plot: {width: plot.width, height: plot.height},
            labels: [...gd.querySelectorAll('.heatmap-label text, text.heatmap-label')].map(t => {
              const r = t.getBoundingClientRect();
              return {text: t.textContent, size: parseFloat(getComputedStyle(t).fontSize), width: r.width,
                      height: r.height}; })};""")

# For each table on the page: how far (px) its top lies below the top of the text drawn right before it (the
# Markdown and captions back to the element above them: a heading, chart, table or widget). The text starts above
# the table's wrapper (moeviz.app.tables), and the swipe hint inside it counts as text before the table.
TEXT_BEFORE_TABLES_JS = """() => [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stDataFrame"]')]
  .map(frame => {
    const box = frame.closest('[data-testid="stElementContainer"]');
    const start = frame.closest('[data-testid="stLayoutWrapper"]:has(> [class*="st-key-table_"])') || box;
    let first = start;
    for (let prev = start.previousElementSibling; prev; prev = prev.previousElementSibling) {
      const isText = prev.querySelector('[data-testid="stMarkdown"], [data-testid="stCaptionContainer"]')
                     && !prev.querySelector('[data-testid="stHeading"]');
      if (!isText) break;
      if (prev.getBoundingClientRect().height > 0) first = prev;
    }
    return {table_top: box.getBoundingClientRect().top, text_px: box.getBoundingClientRect().top
                                                                 - first.getBoundingClientRect().top};
  })"""

SCREENS = {1920: 1080, 1024: 768, 390: 844}
MIN_CELL_FONT_PX = 11


@pytest.mark.timeout(400)
def test_cluster_map_numbers_stay_readable_and_tables_follow_a_short_lead(page, streamlit_server):
    """Before: the cluster map sat in the left of two columns and Plotly shrank its cell text to fit (6 px at
    1024 px); on a phone the fp32 table came after more than a screen of text. Now every printed number is at
    least 11 px and fits its cell at each width, and each table follows at most a quarter screen of text."""
    C, E = 8, 8  # the lab's clusters, the sidebar's default experts
    for width, height in SCREENS.items():
        found = _chart_at(page, streamlit_server, (width, height), "Where each cluster's tokens went", CELL_TEXT_JS)
        assert found and len(found["labels"]) == C * E, found
        cell_w, cell_h = found["plot"]["width"] / E, found["plot"]["height"] / C
        small = [t["text"] for t in found["labels"] if t["size"] < MIN_CELL_FONT_PX]
        assert not small, f"{width} px: cell text under {MIN_CELL_FONT_PX} px: {small[:5]}"
        wide = [t["text"] for t in found["labels"] if t["width"] > cell_w - 2 or t["height"] > cell_h]
        assert not wide, f"{width} px: cell text wider than its {cell_w:.0f} px cell: {wide[:5]}"
        leads = page.evaluate(TEXT_BEFORE_TABLES_JS)
        assert len(leads) == 2, leads  # the price table and the bf16 table
        long = [lead for lead in leads if lead["text_px"] > height / 4]
        assert not long, f"{width} px: more than a quarter screen of text before a table: {long}"
        screenshot(page, f"balance-cluster-map-{width}")
    assert_no_console_errors(page)
