"""/variants in Chromium: the grid of experts per token keeps its column labels (the rules) apart at every width."""
import pytest
from _harness import assert_no_console_errors, assert_no_exception, open_app, screenshot

SCREENS = {1920: 1080, 1024: 768, 390: 844}  # width: height

# Each x tick label of one chart, as the box it covers on screen, and the chart's own box. The labels are drawn
# horizontal or upright (moeviz.figures.variants.TICK_ANGLES), so their boxes are exactly what they cover.
TICK_BOXES_JS = """(chart) => {
  const svg = chart.querySelector("svg.main-svg"), a = svg.getBoundingClientRect();
  const ticks = [...chart.querySelectorAll("g.xtick > text")].map(t => {
    const b = t.getBoundingClientRect();
    return {text: t.textContent, left: b.left, right: b.right, top: b.top, bottom: b.bottom};
  });
  return {left: a.left, right: a.right, bottom: a.bottom, ticks};
}"""


MIN_GAP_PX = 2  # between two labels side by side, or they read as one


def overlapping(boxes: list[dict]) -> list[str]:
    """Pairs of label boxes side by side (sharing some height) less than MIN_GAP_PX apart, or overlapping."""
    return [f"{a['text']!r} / {b['text']!r}" for i, a in enumerate(boxes) for b in boxes[i + 1:]
            if max(a["left"], b["left"]) - min(a["right"], b["right"]) < MIN_GAP_PX
            and min(a["bottom"], b["bottom"]) > max(a["top"], b["top"])]


@pytest.mark.parametrize("width", SCREENS)
def test_rule_labels_under_the_grid_stand_apart(page, streamlit_server, width):
    """At 1024 px the labels stood slanted at -30° and ran into each other ("renormalised" over "softmax →")."""
    from moeviz.variants import VARIANTS
    page.set_viewport_size({"width": width, "height": SCREENS[width]})
    open_app(page, streamlit_server, "/variants")
    assert_no_exception(page)
    grid = page.get_by_test_id("stMain").get_by_test_id("stPlotlyChart").filter(
        has_text="Experts that ran for each token")
    grid.scroll_into_view_if_needed()
    page.wait_for_timeout(1000)  # Plotly settles the labels' angle after it has measured them
    found = grid.evaluate(TICK_BOXES_JS)
    ticks = found["ticks"]
    assert ["".join(t["text"].split()) for t in ticks] == ["".join(v.label.split()) for v in VARIANTS]
    assert not overlapping(ticks), overlapping(ticks)
    outside = [t["text"] for t in ticks if t["left"] < found["left"] - 0.5 or t["right"] > found["right"] + 0.5
               or t["bottom"] > found["bottom"] + 0.5]
    assert not outside, outside
    screenshot(page, f"variants-grid-{width}")
    assert_no_console_errors(page)
