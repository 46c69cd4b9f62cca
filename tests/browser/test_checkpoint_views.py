"""/heatmap in Chromium with its default model (olmoe-tiny): the views are there, readable at 1920, 1024 and 390 px
wide, nothing wider than the page, and a what-if change reruns without errors."""
import pytest
from _harness import assert_no_console_errors, assert_no_exception, open_app, screenshot, wait_for_app

WIDTHS = (1920, 1024, 390)
SECTIONS = ("All layers at a glance", "Layer 0: every token and every expert", "A token's journey through the layers",
            "What each expert of layer 0 gets on this text", "What if this model routed differently?")


def overflowing(page) -> list[str]:
    """Visible main-area elements whose right edge passes the viewport's, outside any scrolling or clipping box
    (so the text is cut off or the page scrolls sideways): their test ids."""
    return page.evaluate("""() => {
        const width = document.documentElement.clientWidth;
        const clipped = el => { for (let a = el.parentElement; a; a = a.parentElement) {
            const o = getComputedStyle(a).overflowX;
            if (o !== "visible" && a.getBoundingClientRect().right <= width + 1) return true; } return false; };
        const cut = [];
        for (const el of document.querySelectorAll('[data-testid="stMain"] [data-testid]')) {
            const box = el.getBoundingClientRect();
            if (box.width > 0 && box.right > width + 1 && el.checkVisibility() && !clipped(el))
                cut.push(el.dataset.testid);
        }
        return [...new Set(cut)];
    }""")


def section_screenshots(page, name: str) -> None:
    """One screenshot per section (the app scrolls inside its own container, so a full-page shot shows the top)."""
    screenshot(page, name, full_page=False)
    for i, section in enumerate(SECTIONS):
        page.get_by_role("heading", name=section).first.scroll_into_view_if_needed()
        page.wait_for_timeout(300)
        screenshot(page, f"{name}-{i + 1}", full_page=False)


@pytest.mark.parametrize("width", WIDTHS)
def test_default_model_views_at_every_width(page, streamlit_server, width):
    page.set_viewport_size({"width": width, "height": 1000})
    open_app(page, streamlit_server, "/heatmap")
    assert_no_exception(page)
    page.get_by_test_id("stPlotlyChart").first.wait_for(state="visible")
    text = page.get_by_test_id("stMain").inner_text()
    for section in SECTIONS:
        assert section in text, section
    assert "Model on this page: trained weights · olmoe-tiny" in text
    assert page.get_by_test_id("stPlotlyChart").count() == 6
    assert overflowing(page) == []
    # The journey grid's cell text stays readable on a phone: at least 11 px, as drawn (issue 18 reported ~7 px).
    sizes = page.evaluate("""() => [...document.querySelectorAll('g.heatmap-label text')]
        .filter(t => t.closest('[data-testid="stPlotlyChart"]').querySelector('.gtitle')?.textContent
                     .startsWith("Each token's experts"))
        .map(t => Math.min(parseFloat(getComputedStyle(t).fontSize), t.getBoundingClientRect().height))""")
    assert sizes and min(sizes) >= 11, (width, min(sizes or [0]))
    section_screenshots(page, f"checkpoint-views-{width}")
    assert_no_console_errors(page)


def test_what_if_change_reruns(page, streamlit_server):
    open_app(page, streamlit_server, "/heatmap?whatif_capacity=0.5")
    assert_no_exception(page)
    page.get_by_text("to capacity (C =").first.wait_for(state="visible")
    wait_for_app(page)
    box = page.get_by_role("combobox", name="MoE layer")
    box.scroll_into_view_if_needed()
    box.click()
    page.get_by_role("option", name="layer 3").click()
    wait_for_app(page)
    assert_no_exception(page)
    assert "Layer 3: every token and every expert" in page.get_by_test_id("stMain").inner_text()
    assert "layer=3" in page.url
    assert_no_console_errors(page)
