"""/heatmap in Chromium: it loads with its heatmaps, a text change reruns it, no console errors."""
import numpy as np
import pytest
from _harness import SCREENSHOTS, assert_no_console_errors, assert_no_exception, open_app, screenshot, wait_for_app


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


# /heatmap on a phone: the what-if's rule box read "softmax → top-k, not renormalised (Qwen1.5/2-MoE, (" and two
# tables ran past the screen's edge: all layers' "balance loss", and the what-if's "gained", which its caption counts.
SCREENS = {1920: 1080, 1024: 768, 390: 844}  # width: height
BOX_SLACK_PX = 16  # a rule's name stays this far from the box's edge (a glyph or two of another font)


def columns_out_of_view(frame) -> list[str]:
    """The table's columns whose right edge lies past its visible width (out of view until the learner scrolls the
    table sideways), with where they end; their order is the one drawn, pinned columns first."""
    from test_table_widths import COLUMNS_JS
    frame.scroll_into_view_if_needed()
    frame.locator("canvas[data-testid='data-grid-canvas']").wait_for(state="attached")
    columns, room = frame.evaluate(COLUMNS_JS), frame.evaluate("e => e.clientWidth")
    ends = np.cumsum([c["width"] for c in columns])
    return [f"{c['title']!r} ends at {end} px of {room}" for c, end in zip(columns, ends) if end > room]


@pytest.mark.parametrize("width", SCREENS)
def test_what_if_box_and_tables_fit_the_screen(page, streamlit_server, width):
    from test_table_widths import cut_text
    page.set_viewport_size({"width": width, "height": SCREENS[width]})
    open_app(page, streamlit_server, "/heatmap")
    assert_no_exception(page)
    main = page.get_by_test_id("stMain")
    box = main.get_by_role("combobox", name="Router variant")
    box.scroll_into_view_if_needed()
    value, need, room = box.evaluate("i => [i.value, i.scrollWidth, i.clientWidth]")
    assert need <= room, f"{value!r} needs {need} px in {room} px"
    frames = main.get_by_test_id("stDataFrame")
    summary = frames.first  # all layers at a glance: layer, max/mean load, load CV, router entropy, balance loss
    what_if = frames.last  # the tokens whose experts change, with the lost and gained experts its caption counts
    late = {name: columns_out_of_view(frame) for name, frame in (("all layers", summary), ("what-if", what_if))}
    assert not any(late.values()), late
    cut = cut_text(what_if) + cut_text(summary)
    assert not cut, cut
    # every name the box can show
    from moeviz.app.heatmap_text import variant_option
    from moeviz.variants import VARIANT_KEYS
    widths = box.evaluate(LABEL_FIT_JS, [variant_option(k) for k in VARIANT_KEYS])
    too_wide = [f"{label!r}: {need:.0f} px in {room:.0f} px" for label, need, room in widths
                if need > room - BOX_SLACK_PX]
    assert not too_wide, too_wide
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    what_if.screenshot(path=str(SCREENSHOTS / f"heatmap-what-if-table-{width}.png"))
    assert_no_console_errors(page)
