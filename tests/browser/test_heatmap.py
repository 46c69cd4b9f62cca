"""/heatmap in Chromium: it loads with its heatmaps, a text change reruns it, no console errors."""
from _harness import assert_no_console_errors, assert_no_exception, open_app, screenshot, wait_for_app


def test_heatmap_page_loads_and_reroutes(page, streamlit_server):
    open_app(page, streamlit_server, "/heatmap?top_k=2&num_experts=8&model=moeviz-lm")  # the moeviz LM view
    assert_no_exception(page)
    page.get_by_test_id("stPlotlyChart").first.wait_for(state="visible")
    assert page.get_by_test_id("stPlotlyChart").count() == 5
    screenshot(page, "heatmap")
    box = page.get_by_role("textbox", name="Text to route")
    box.fill("Say <b>hi</b> 🙂 مرحبا\n   x = [i for i in range(3)]")
    box.press("Control+Enter")
    wait_for_app(page)
    assert_no_exception(page)
    assert page.locator("b", has_text="hi").count() == 0  # user text never becomes HTML
    screenshot(page, "heatmap-hostile")
    assert_no_console_errors(page)


def test_walkthrough_with_the_trained_model(page, streamlit_server):
    open_app(page, streamlit_server, "/?trained=1&lm_layer=1&text=The%20for%20loop%20runs.&step=2")
    assert_no_exception(page)
    page.get_by_text("trained here on Python's documentation").first.wait_for(state="visible")  # moeviz-lm: an old link
    screenshot(page, "walkthrough-trained")
    assert_no_console_errors(page)
