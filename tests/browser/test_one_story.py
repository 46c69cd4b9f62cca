"""Issue 18 in Chromium: /, /heatmap and /variants on olmoe-tiny at three widths, and /heatmap interactive within
seconds for the largest text the server accepts."""
import time
from urllib.parse import quote

import pytest
from _harness import assert_no_console_errors, assert_no_exception, open_app, screenshot, wait_for_app

LARGEST = ("The for statement repeats its suite for each item:\n   for i in range(3): print(i)\n" * 40)[:2000]


@pytest.mark.parametrize("width", [1920, 1024, 390])
def test_story_pages_at_three_widths(page, streamlit_server, width):
    page.set_viewport_size({"width": width, "height": 900})
    for path, name in (("/", "walkthrough"), ("/heatmap", "heatmap"), ("/variants", "variants")):
        open_app(page, streamlit_server, path)
        assert_no_exception(page)
        page.get_by_text("olmoe-tiny: a tiny model with OLMoE").first.wait_for(state="attached")
        screenshot(page, f"story-{name}-{width}", full_page=False)
    assert_no_console_errors(page)


def test_heatmap_with_the_largest_text_stays_quick(page, streamlit_server):
    page.set_viewport_size({"width": 1024, "height": 900})
    start = time.perf_counter()
    open_app(page, streamlit_server, "/heatmap?text=" + quote(LARGEST))
    page.get_by_test_id("stPlotlyChart").first.wait_for(state="visible")
    wait_for_app(page)
    assert_no_exception(page)
    assert time.perf_counter() - start < 60  # was minutes with ~20,000-px figures (loose: a shared 2-core box)
    tallest = max(page.get_by_test_id("stPlotlyChart").evaluate_all("els => els.map(e => e.offsetHeight)"))
    assert tallest < 2000
    page.get_by_text("windows of at most 128 tokens").first.wait_for(state="visible")
    screenshot(page, "story-heatmap-largest")
    assert_no_console_errors(page)
