"""Every page in real Chromium: loads cleanly, its main figure follows the k slider, a shared link
reproduces the view in a fresh browser, and a screenshot of each page is saved (the README uses them)."""
import pytest
from _harness import assert_no_console_errors, assert_no_exception, open_app, screenshot, wait_for_app

from moeviz.app.nav import PAGES

# Pages whose figures are computed from the sidebar's layer on load (balance trains only on request,
# quiz and glossary show no layer-driven figure until asked).
# /heatmap routes with its model's own k by default (olmoe-tiny); its model=moeviz-lm view follows the sidebar
# (tests/app/test_heatmap_page.py).
FOLLOWS_K = {"/", "/parallel", "/compute", "/variants"}
FINGERPRINT_JS = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  const plots = [...document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot')]
      .map(gd => JSON.stringify((gd.data || []).map(t => [t.type, t.x, t.y, t.z, t.text])));
  return JSON.stringify({text: main ? main.innerText : '', plots});
}"""


def page_name(info) -> str:
    return "home" if info.url == "/" else info.url.strip("/")


@pytest.mark.parametrize("info", PAGES, ids=page_name)
def test_page_loads_and_follows_k(page, streamlit_server, info):
    open_app(page, streamlit_server, f"{info.url}?num_experts=8&top_k=2&seed=1")
    assert_no_exception(page)
    screenshot(page, f"page-{page_name(info)}")
    before = page.evaluate(FINGERPRINT_JS)
    page.locator('.st-key-top_k input[type="range"]').press("ArrowRight")
    # The rerun writes k into the link; waiting for that first means wait_for_app sees *this* run, not the last.
    page.wait_for_function("() => location.search.includes('top_k=3')", timeout=60_000)
    wait_for_app(page)
    assert_no_exception(page)
    if info.url in FOLLOWS_K:
        assert page.evaluate(FINGERPRINT_JS) != before, f"{info.url}: nothing changed when k went 2 -> 3"
    assert_no_console_errors(page)


@pytest.mark.parametrize("info", [p for p in PAGES if p.url in FOLLOWS_K], ids=page_name)
def test_shared_link_reproduces_the_view(browser_context_factory, streamlit_server, info):
    link = f"{info.url}?num_experts=16&top_k=3&seed=5&router=sigmoid_bias&capacity_factor=1.25&step=4&token=2"
    views = []
    for _ in range(2):  # two fresh browser contexts: no shared cookies, storage or session
        page = browser_context_factory()
        open_app(page, streamlit_server, link)
        assert_no_exception(page)
        views.append(page.evaluate(FINGERPRINT_JS))
        assert_no_console_errors(page)
    assert views[0] == views[1]
