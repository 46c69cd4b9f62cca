"""/replicas in Chromium: the built-in dump, an uploaded dump and the checkpoint each give a plan; the worker run;
an uploaded trace with logits shows every view;
screenshots at 1920, 1024 and 390 px."""
import pytest
from _harness import assert_no_console_errors, assert_no_exception, open_app, screenshot, wait_for_app

from tests.routes import fixtures as fx

WIDTHS = (1920, 1024, 390)
pytestmark = pytest.mark.browser


# The journey grid's cell size and the box of each text Plotly drew in it, in CSS px.
JOURNEY_TEXT = """() => {
  const chart = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
    .find(c => (c.querySelector('.gtitle') || {}).textContent?.startsWith("Each token's experts"));
  const gd = chart.querySelector('.js-plotly-plot'), size = gd._fullLayout._size, heat = gd.data[0];
  const boxes = [...chart.querySelectorAll('g.heatmap-label text')].map(e => e.getBoundingClientRect())
    .map(b => ({x: b.x, y: b.y, w: b.width, h: b.height}));
  return {cellW: size.w / heat.x.length, cellH: size.h / heat.y.length, boxes};
}"""


def assert_journey_text_fits(page, width: int) -> None:
    """Every cell's text inside its cell and clear of its neighbours' (one line of four experts ran over at 1024
    and 390 px)."""
    drawn = page.evaluate(JOURNEY_TEXT)
    boxes = drawn["boxes"]
    assert len(boxes) == 24 * 8, width  # the example's window: 24 tokens x 8 layers, each cell written
    for b in boxes:
        assert b["w"] <= drawn["cellW"] - 1 and b["h"] <= drawn["cellH"], (width, b, drawn["cellW"], drawn["cellH"])
    boxes.sort(key=lambda b: (b["y"], b["x"]))
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            if b["y"] >= a["y"] + a["h"]:
                break
            assert b["x"] >= a["x"] + a["w"] or a["x"] >= b["x"] + b["w"], (width, a, b)


def test_example_dump_plan_at_three_widths(page, streamlit_server):
    open_app(page, streamlit_server, "/replicas?gpus=4&replicas=4")
    assert_no_exception(page)
    assert page.get_by_text("Busiest GPU", exact=True).is_visible()
    assert page.get_by_text("Two replicas on one GPU").is_visible()
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 3
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 1000})
        wait_for_app(page)
        page.wait_for_timeout(500)  # Plotly redraws on resize
        assert_journey_text_fits(page, width)
        screenshot(page, f"replicas-example-{width}")
    assert_no_console_errors(page)


def upload(page, base_url: str, link: str, path, shown: str) -> None:
    """Open /replicas at `link`, upload the file at `path`, wait until `shown` is on the page."""
    open_app(page, base_url, link)
    # The page's uploader, not the sidebar's lesson-file one.
    page.locator('[data-testid="stMain"] [data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    page.get_by_text(shown, exact=True).wait_for(timeout=60_000)
    wait_for_app(page)
    assert_no_exception(page)


def test_uploaded_dump(page, streamlit_server, tmp_path):
    path = tmp_path / "routed_experts.npy"
    path.write_bytes(fx.npy_bytes(fx.routing(300, 4, 2, 16)))
    upload(page, streamlit_server, "/replicas?routes_source=upload", path, "Busiest GPU")
    assert page.get_by_text("MoE layers", exact=True).is_visible()  # the memory line also says "MoE layers"
    screenshot(page, "replicas-upload")
    assert_no_console_errors(page)


def test_checkpoint_routing_and_worker_run(page, streamlit_server):
    open_app(page, streamlit_server, "/replicas?routes_source=checkpoint&replica_workers=2", timeout_ms=120_000)
    page.get_by_text("Busiest GPU", exact=True).wait_for(timeout=120_000)
    assert_no_exception(page)
    page.get_by_role("button", name="Run with and without replicas").click()
    page.get_by_text("Step time, no replicas").wait_for(timeout=240_000)
    wait_for_app(page, timeout_ms=240_000)
    assert_no_exception(page)
    screenshot(page, "replicas-checkpoint-run")
    assert_no_console_errors(page)


def test_views_of_an_uploaded_trace_at_three_widths(page, streamlit_server, tmp_path):
    """The views a trace with logits unlocks: drops, journeys, co-selection, probabilities and the what-if."""
    path = tmp_path / "trace.json"
    path.write_bytes(fx.moeviz_trace(40, 8, 2, layers=(0, 1, 2))[0])
    upload(page, streamlit_server, "/replicas?routes_source=upload&routes_capacity=0.75&routes_whatif=switch", path,
           "Route the same logits with")
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 9
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 1000})
        wait_for_app(page)
        for section in ("4 · Drops at a capacity", "5 · Token journeys", "Do consecutive layers choose together?",
                        "6 · With router logits"):
            page.get_by_role("heading", name=section).evaluate("e => e.scrollIntoView({block: 'start'})")
            page.wait_for_timeout(300)
            screenshot(page, f"replicas-views-{section.split(' ')[0].lower()}-{width}", full_page=False)
    assert_no_console_errors(page)
