"""In Chromium, what a newcomer saw on a screenshot: /heatmap's table of an expert's tokens shows every row the bars
count (it showed 8 of 12, with no hint of more); on a phone, /variants keeps each pair of heatmaps together."""
import re

from _harness import assert_no_console_errors, assert_no_exception, open_app, screenshot

ROW_PX = 35  # the grid's row (and header) height at the default font


def test_the_table_of_an_experts_tokens_shows_all_its_rows(page, streamlit_server):
    page.set_viewport_size({"width": 1280, "height": 900})
    open_app(page, streamlit_server, "/heatmap?layer=0&expert=3")
    assert_no_exception(page)
    caption = page.get_by_text(re.compile(r"All \d+ tokens that ran on E3")).first
    rows = int(re.search(r"All (\d+) tokens", caption.inner_text()).group(1))
    assert rows > 10  # more than the grid's default ten rows: the case that hid some
    frame = page.locator('[class*="st-key-table_expert_tokens"] [data-testid="stDataFrame"]')
    frame.scroll_into_view_if_needed()
    height = frame.bounding_box()["height"]
    assert height >= (rows + 1) * ROW_PX, (rows, height)  # the header and every row, no scrolling
    screenshot(page, "heatmap-expert-tokens")
    assert_no_console_errors(page)


CHART_TOPS_JS = """() => [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stPlotlyChart"]')]
  .map(c => ({top: c.getBoundingClientRect().top + window.scrollY, text: c.textContent}))"""


def test_on_a_phone_each_pair_of_heatmaps_stays_together(page, streamlit_server):
    """Two st.columns for all seven heatmaps stacked the first column, then the second: "not renormalised" came
    three charts after its renormalised twin."""
    page.set_viewport_size({"width": 390, "height": 844})
    open_app(page, streamlit_server, "/variants")
    assert_no_exception(page)
    page.get_by_test_id("stPlotlyChart").last.wait_for(state="visible")
    charts = sorted(page.evaluate(CHART_TOPS_JS), key=lambda c: c["top"])
    order = [c["text"] for c in charts]
    renormalised = next(i for i, t in enumerate(order) if "Mixtral, Qwen3-MoE" in t)
    twin = next(i for i, t in enumerate(order) if "Qwen1.5/2-MoE, OLMoE" in t)
    assert twin == renormalised + 1, order
    page.get_by_text("the outlines are not always the darkest cells").first.scroll_into_view_if_needed()
    screenshot(page, "variants-sigmoid-390", full_page=False)
    assert_no_console_errors(page)
