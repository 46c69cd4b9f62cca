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


# The sidebar's router box is an <input>: a label wider than its text area was cut ("(Mixtral, OLMo…" at 1024 px).
LABEL_FIT_JS = """(input, labels) => {
  const style = getComputedStyle(input);
  const ctx = document.createElement("canvas").getContext("2d");
  ctx.font = style.font;
  const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return labels.map(label => [label, ctx.measureText(label).width, room]);
}"""


def test_every_router_label_fits_the_sidebar_at_1024_px(page, streamlit_server):
    from moeviz.config import ROUTER_LABELS
    page.set_viewport_size({"width": 1024, "height": 900})
    open_app(page, streamlit_server, "/heatmap")
    assert_no_exception(page)
    box = page.get_by_test_id("stSidebar").get_by_role("combobox", name="Router")
    box.wait_for(state="visible")
    widths = box.evaluate(LABEL_FIT_JS, list(ROUTER_LABELS.values()))
    cut = [f"{label!r}: {need:.0f} px in {room:.0f} px" for label, need, room in widths if need > room]
    assert not cut, cut
    assert_no_console_errors(page)


# Each Plotly title against its own chart: at 1024 px the /variants heatmaps are two to a row, ~270 px each.
TITLE_BOXES_JS = """(main) => [...main.querySelectorAll("[data-testid='stPlotlyChart']")].map(chart => {
  const svg = chart.querySelector("svg.main-svg"), title = chart.querySelector(".gtitle");
  if (!svg || !title) return null;
  const a = svg.getBoundingClientRect(), b = title.getBoundingClientRect();
  return {title: title.textContent, left: b.left - a.left, right: a.right - b.right, top: b.top - a.top};
}).filter(Boolean)"""


def test_variants_heatmap_titles_fit_their_charts_at_1024_px(page, streamlit_server):
    page.set_viewport_size({"width": 1024, "height": 900})
    open_app(page, streamlit_server, "/variants")
    assert_no_exception(page)
    charts = page.get_by_test_id("stMain").get_by_test_id("stPlotlyChart")
    charts.last.scroll_into_view_if_needed()
    page.wait_for_timeout(1000)  # the last charts draw once scrolled into view
    boxes = page.get_by_test_id("stMain").evaluate(TITLE_BOXES_JS)
    from moeviz.variants import VARIANTS
    squeezed = ["".join(b["title"].split()) for b in boxes]  # a title's lines join without spaces in the DOM
    assert all(any("".join(v.label.split()) in t for t in squeezed) for v in VARIANTS)  # every heatmap measured
    cut = [b for b in boxes if b["left"] < -0.5 or b["right"] < -0.5 or b["top"] < -0.5]
    assert not cut, cut
    screenshot(page, "variants-1024")
    assert_no_console_errors(page)
