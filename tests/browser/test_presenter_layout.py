"""Presenter mode on a projector's screen: each walkthrough step's heading, every figure and Prev / Next are
all on the first screen, at 1920x1080 and at 1024x768, and Next keeps the step in view. Measured on the view the
app opens with (the trained model's layer on the default sentence, its subword tokens), not on a chosen one."""
from __future__ import annotations

import pytest
from _harness import assert_no_console_errors, assert_no_exception, open_app, screenshot, wait_for_app

from moeviz.walkthrough import STEP_NAMES

SIZES = {"1920x1080": {"width": 1920, "height": 1080}, "1024x768": {"width": 1024, "height": 768}}
SIZE_PARAMS = list(SIZES)


def box(locator) -> dict:
    locator.wait_for(state="visible")
    return locator.bounding_box()


def on_first_screen(page, locator) -> bool:
    b = box(locator)
    return b["y"] >= 0 and b["y"] + b["height"] <= page.viewport_size["height"] + 1


def wait_for_figures(page) -> None:
    page.wait_for_function("""() => [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
                                     .every(chart => chart.querySelector('.main-svg'))""")


@pytest.mark.parametrize("size", SIZE_PARAMS, ids=str)
def test_every_step_fits_one_screen_in_presenter_mode(page, streamlit_server, size):
    page.set_viewport_size(SIZES[size])
    open_app(page, streamlit_server, "/?present=1")  # the default view: no layer, sentence or token in the link
    assert page.locator(".st-key-trained input").first.is_checked(), "the app no longer opens on the trained model"
    positions = {}
    for step, name in enumerate(STEP_NAMES, start=1):
        if step > 1:
            page.get_by_role("button", name="Next →").click()
            page.wait_for_function("(s) => location.search.includes('step=' + s)", arg=str(step))
            wait_for_app(page)
        wait_for_figures(page)
        assert_no_exception(page)
        heading = page.get_by_role("heading", name=f"Step {step} / 6 · {name}")
        figures = page.locator('[data-testid="stMain"] [data-testid="stPlotlyChart"]:visible')
        parts = {"heading": heading, "prev": page.get_by_role("button", name="← Prev"),
                 "next": page.get_by_role("button", name="Next →"),
                 **{f"figure {i + 1}": figures.nth(i) for i in range(figures.count())}}
        off = [part for part, loc in parts.items() if not on_first_screen(page, loc)]
        positions[step] = {part: round(box(loc)["y"] + box(loc)["height"]) for part, loc in parts.items()}
        screenshot(page, f"presenter-step-{step}-{size}", full_page=False)
        assert not off, f"step {step} at {size}: {off} not on the first screen ({positions[step]})"
    print(f"presenter-mode bottoms at {size}: {positions}")
    assert_no_console_errors(page)


def doc_top(page, locator) -> float:
    locator.wait_for(state="visible")
    return locator.evaluate("e => e.getBoundingClientRect().top + window.scrollY")


@pytest.mark.parametrize("size", SIZE_PARAMS, ids=str)
@pytest.mark.parametrize("path, folded", [
    ("/variants?present=1", "Who uses which rule, and what it trades"),
    ("/heatmap?present=1", "About this model"),
], ids=("variants", "heatmap"))
def test_figure_first_on_long_pages(page, streamlit_server, size, path, folded):
    """Presenter mode puts a page's first figure on the first screen; the long explanations fold below it."""
    page.set_viewport_size(SIZES[size])
    open_app(page, streamlit_server, path)
    wait_for_figures(page)
    assert_no_exception(page)
    first_figure = doc_top(page, page.locator('[data-testid="stPlotlyChart"]').first)
    assert first_figure < SIZES[size]["height"], f"{path} at {size}: first figure starts at y = {first_figure:.0f}"
    expander = page.locator('[data-testid="stExpander"] details').filter(has_text=folded).first
    assert expander.get_attribute("open") is None, f"{folded!r} is not folded"
    print(f"{path} at {size}: first figure at y = {first_figure:.0f}")
    screenshot(page, f"presenter-{path.split('?')[0].strip('/')}-{size}", full_page=False)
    assert_no_console_errors(page)


def test_balance_results_figures_first(page, streamlit_server):
    page.set_viewport_size(SIZES["1024x768"])
    open_app(page, streamlit_server, "/balance?present=1&train_steps=50")
    page.get_by_role("button", name="Train").click()
    results = page.get_by_role("heading", name="Results")
    results.wait_for(timeout=120_000)
    wait_for_app(page)
    wait_for_figures(page)
    gap = doc_top(page, page.locator('[data-testid="stPlotlyChart"]').first) - doc_top(page, results)
    assert gap < 300, f"the first result figure starts {gap:.0f} px below the Results heading"
    explanation = page.locator('[data-testid="stExpander"] details').filter(has_text="What this run shows").first
    assert explanation.get_attribute("open") is None
    assert_no_console_errors(page)
