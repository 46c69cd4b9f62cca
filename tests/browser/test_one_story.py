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
        page.get_by_text("olmoe-tiny (8 experts): a tiny model with OLMoE").first.wait_for(state="attached")
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


def _largest_layer_trace(path):
    """A trace file with the most layers a file may hold (1024), ~90 tokens each, under the 64 MB upload limit."""
    import json

    from moeviz.hf.folders import SHIPPED_DIR
    from moeviz.hf.model import load_checkpoint
    from moeviz.hf.tracefile import MAX_LAYERS, MAX_TRACE_BYTES, routing_json
    text = ("The for statement repeats its suite for each item. " * 8)[:290]  # ~58 MB at 1024 layers
    routing = load_checkpoint(SHIPPED_DIR / "olmoe-tiny", device="cpu").route(text)
    doc = json.loads(routing_json(routing))
    doc["layers"] = [{"layer": i, "trace": doc["layers"][i % 4]["trace"]} for i in range(MAX_LAYERS)]
    path.write_text(json.dumps(doc))
    # Streamlit's uploader refuses a bigger file before the app sees it (the red mark that this test once waited
    # 120 s behind): keep the file a real upload of the largest kind, not a refused one.
    assert 0.8 * MAX_TRACE_BYTES < path.stat().st_size < MAX_TRACE_BYTES, path.stat().st_size
    return path


def test_heatmap_with_a_1024_layer_trace_stays_quick(page, streamlit_server, tmp_path):
    trace = _largest_layer_trace(tmp_path / "trace.json")
    page.set_viewport_size({"width": 1024, "height": 900})
    open_app(page, streamlit_server, "/heatmap")
    page.get_by_test_id("stPlotlyChart").first.wait_for(state="visible")
    start = time.perf_counter()
    page.locator('[data-testid="stMain"] input[type=file]').set_input_files(str(trace))  # not the lesson's
    page.get_by_text("Showing the uploaded trace").first.wait_for(state="visible", timeout=120_000)
    wait_for_app(page)
    assert_no_exception(page)
    assert time.perf_counter() - start < 90  # took ~5 minutes before the layer windows (loose: a shared 2-core box)
    page.get_by_text("figures show 64 tokens and 32 layers").first.wait_for(state="visible")
    tallest = max(page.get_by_test_id("stPlotlyChart").evaluate_all("els => els.map(e => e.offsetHeight)"))
    assert tallest < 2000
    assert page.get_by_text("(trained or random)").count() >= 1  # an uploaded trace is never called trained
    screenshot(page, "story-heatmap-1024-layers")
    assert_no_console_errors(page)
