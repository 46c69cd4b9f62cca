"""/parallel and /compute in Chromium: load, run the worker processes and the timing on demand, screenshot; at
1024 px the table columns their text quotes and every metric label show whole."""
import pytest
from _harness import assert_no_console_errors, assert_no_exception, open_app, screenshot, wait_for_app

# The shown headers of the columns each page's text quotes next to a table (the learner must not scroll a table
# sideways to find the number a sentence talks about).
QUOTED = {
    "/parallel": ("token: experts, batch", "token: experts, alone"),  # section 5: the token's experts in the batch and alone
    "/compute": ("parameters", "expert sets", "FLOPs / token", "expert FLOPs", "shared ÷ output",
                 "time (ms)"),  # section 3
}

# Streamlit's st.dataframe draws on a canvas (glide-data-grid): no header box in the DOM. Each column's title and
# width come from the grid's own props (the React component that draws it); a header cell then spans the sum of
# the widths before it to that sum plus its own, from the grid's left edge (no row-marker column: hide_index).
HEADER_BOXES_JS = """(el) => {
  const canvas = el.querySelector("canvas[data-testid='data-grid-canvas']");
  if (!canvas) return null;
  const box = el.getBoundingClientRect();
  const key = Object.keys(canvas).find(k => k.startsWith("__reactFiber"));
  for (let f = canvas[key], depth = 0; f && depth < 50; f = f.return, depth++) {
    const columns = f.memoizedProps && f.memoizedProps.columns;
    if (Array.isArray(columns) && columns.length && columns[0].width !== undefined) {
      let left = box.left;
      const headers = columns.map(c => { const h = {title: c.title, left: left, right: left + c.width};
                                         left += c.width; return h; });
      return {grid: {left: box.left, right: box.right}, headers: headers};
    }
  }
  return null;
}"""

# A metric label Streamlit cuts with an ellipsis: some element inside it is wider than its box.
CUT_LABEL_JS = """(el) => [el, ...el.querySelectorAll("*")].some(e => e.scrollWidth > e.clientWidth + 1)"""


def header_boxes(page) -> list[dict]:
    frames = page.get_by_test_id("stMain").get_by_test_id("stDataFrame")
    boxes = []
    for i in range(frames.count()):
        frames.nth(i).scroll_into_view_if_needed()
        frames.nth(i).locator("canvas[data-testid='data-grid-canvas']").wait_for(state="attached")
        found = frames.nth(i).evaluate(HEADER_BOXES_JS)
        assert found, "the grid's columns were not found (has Streamlit's data grid changed?)"
        boxes.append(found)
    return boxes


def hidden_quoted_columns(page, quoted) -> list[str]:
    """Each quoted header that is missing or lies (partly) outside its grid's visible box."""
    boxes = header_boxes(page)
    problems = []
    for title in quoted:
        where = [(b["grid"], h) for b in boxes for h in b["headers"] if h["title"] == title]
        if not where:
            problems.append(f"{title!r}: no such column")
        for grid, h in where:
            if h["right"] > grid["right"] + 1 or h["left"] < grid["left"] - 1:
                problems.append(f"{title!r}: header at {h['left']:.0f}-{h['right']:.0f} px, the grid shows "
                                f"{grid['left']:.0f}-{grid['right']:.0f} px")
    return problems


def cut_metric_labels(page) -> list[str]:
    labels = page.get_by_test_id("stMain").get_by_test_id("stMetricLabel")
    return [labels.nth(i).inner_text() for i in range(labels.count()) if labels.nth(i).evaluate(CUT_LABEL_JS)]


def whole_page_screenshot(page, width: int, name: str) -> None:
    """The whole page at `width` px: Streamlit scrolls its main block inside the window, so the window is made as
    tall as that block for the picture."""
    page.set_viewport_size({"width": width, "height": 900})
    page.wait_for_timeout(500)  # the grids and charts re-measure their box
    height = page.get_by_test_id("stMain").evaluate("m => m.scrollHeight")
    page.set_viewport_size({"width": width, "height": min(height, 16_000)})
    page.wait_for_timeout(500)
    screenshot(page, name)


@pytest.mark.parametrize("path", sorted(QUOTED))
def test_quoted_columns_and_metric_labels_show_whole_at_1024_px(page, streamlit_server, path):
    """Before: at 1024 px /parallel's section 5 and /compute's section 3 tables hid, past their right edge, the
    columns their text quotes, and metric labels ended in '…'."""
    page.set_viewport_size({"width": 1024, "height": 900})
    open_app(page, streamlit_server, path)
    assert_no_exception(page)
    assert not hidden_quoted_columns(page, QUOTED[path])
    assert not cut_metric_labels(page)
    for width in (1920, 1024, 390):
        whole_page_screenshot(page, width, f"{path.strip('/')}-{width}")
    assert_no_console_errors(page)


def test_parallel_page_runs_workers(page, streamlit_server):
    page.set_viewport_size({"width": 1024, "height": 900})  # the run's four metrics, two per row, show whole here
    open_app(page, streamlit_server, "/parallel?capacity_factor=0.75&num_experts=4&top_k=2")
    assert_no_exception(page)
    assert page.get_by_text("Slots per expert (C)").is_visible()
    page.get_by_role("button", name="Run on worker processes").click()
    page.get_by_text("Step, balanced (no drops)").wait_for(timeout=240_000)  # the outcome, not a guess at rerun timing
    wait_for_app(page, timeout_ms=240_000)
    assert_no_exception(page)
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 4
    assert not cut_metric_labels(page)
    for width in (1920, 1024, 390):  # the run's sentence and metrics at each width
        whole_page_screenshot(page, width, f"parallel-after-run-{width}")
    assert_no_console_errors(page)


def test_compute_page_measures(page, streamlit_server):
    open_app(page, streamlit_server, "/compute?batch=1024&num_experts=8")  # too large to time as the page opens
    assert_no_exception(page)
    assert not page.get_by_text("The k/N saving").count()
    page.get_by_role("button", name="Measure sparse vs dense").click()
    page.get_by_text("The k/N saving").wait_for(timeout=120_000)
    wait_for_app(page, timeout_ms=120_000)
    assert_no_exception(page)
    screenshot(page, "compute-after-measure")
    assert_no_console_errors(page)


# Each category label of a chart (x or y ticks): its text, its box, and whether Plotly turned it (a "rotate(").
TICKS_JS = """(el) => [...el.querySelectorAll("g.xtick text, g.ytick text")].map(t => {
  const b = t.getBoundingClientRect();
  return {text: t.textContent, left: b.left, right: b.right, top: b.top, bottom: b.bottom,
          turned: /rotate\\((?!0[,)])/.test(t.getAttribute("transform") || "")};
})"""


# Each bar's number that runs past its chart's right edge or is turned (Plotly draws it as text.bartext, and
# turns a number to fit it inside a narrow bar).
CUT_BAR_TEXT_JS = """(el) => { const edge = el.getBoundingClientRect().right;
  return [...el.querySelectorAll("text.bartext")]
    .filter(t => t.getBoundingClientRect().right > edge + 1
                 || /rotate\\((?!0[,)])/.test(t.getAttribute("transform") || ""))
    .map(t => t.textContent); }"""


def overlapping(ticks: list[dict]) -> list[tuple[str, str]]:
    """Pairs of labels whose boxes cross (a touch of 1 px allowed)."""
    return [(a["text"], b["text"]) for i, a in enumerate(ticks) for b in ticks[i + 1:]
            if min(a["right"], b["right"]) - max(a["left"], b["left"]) > 1
            and min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > 1]


def test_compute_count_labels_stay_level_and_apart_at_every_width(page, streamlit_server):
    """Before: at 1024 px the FLOPs chart's labels ("dense-all (every expert)", ...) were slanted: too wide side
    by side in their half-width column. Now they break before the parenthesis and stay level, apart, at 1920,
    1024 and 390 px, and every bar's number stays inside its chart (the first horizontal draft cut "4,198,40")."""
    open_app(page, streamlit_server, "/compute")
    assert_no_exception(page)
    for width in (1920, 1024, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(800)  # Plotly re-lays its axes for the new width
        for title in ("FLOPs per token", "Parameters: stored vs used"):
            chart = page.get_by_test_id("stPlotlyChart").filter(has_text=title).first
            chart.scroll_into_view_if_needed()
            ticks = chart.evaluate(TICKS_JS)
            assert not [t["text"] for t in ticks if t["turned"]], f"{title} at {width} px: {ticks}"
            labels = [t for t in ticks if "(" in t["text"] or "FFN" in t["text"]]
            assert len(labels) in (2, 3), labels  # the bars' names, not the number axis
            assert not overlapping(labels), f"{title} at {width} px: {labels}"
            assert not chart.evaluate(CUT_BAR_TEXT_JS), f"{title} at {width} px: a number cut or turned"
    assert_no_console_errors(page)
