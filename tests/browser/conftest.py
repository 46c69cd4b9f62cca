"""Browser tests: the app served by `streamlit run`, driven by Playwright in Debian's Chromium.

Every test under tests/browser gets the `browser` marker (select with `-m browser`, skip with
`-m "not browser"`) and runs after all other tests (so the session-scoped server and browser live only
while browser tests run). Playwright cannot download its own browsers here: we use /usr/bin/chromium
(`apt-get install chromium`). Without it the tests skip, except with CI=true, where they fail.

Fixtures
- `streamlit_server` (session): base URL (e.g. "http://127.0.0.1:40123") of `app.py` served from the repo
  root on a free port; log in artifacts/streamlit-server.log; the process group is killed at the end.
- `chromium` (session): a Playwright `Browser`.
- `page` (function): a fresh context (1400x1000) and page. `page.console_errors` is a live list of console
  errors and uncaught page errors, minus only Streamlit's own 404 probes of `<page>/_stcore/...` on deep links.
  If the test failed, a screenshot is saved as artifacts/screenshots/FAILED-<test>.png.

Helpers (`from _harness import ...`; this folder is put on sys.path below)
- `open_app(page, base_url, "/heatmap?top_k=2")`: goto + `wait_for_app`.
- `wait_for_app(page)`: waits until the script run finished (stApp connected, `data-test-script-state`
  "notRunning", running icon gone). Call it after every click / widget change that reruns the script.
- `assert_no_exception(page)`: no `[data-testid="stException"]` box.
- `assert_no_console_errors(page)`: `page.console_errors` is empty.
- `screenshot(page, "heatmap-k2")`: saves artifacts/screenshots/heatmap-k2.png.
- `StreamlitServer(script, cwd, log_path)`: a context manager, to serve some other script.

Example::

    from _harness import open_app, wait_for_app, assert_no_exception, assert_no_console_errors, screenshot

    def test_heatmap_loads(page, streamlit_server):
        open_app(page, streamlit_server, "/heatmap")
        assert_no_exception(page)
        page.get_by_role("slider").first.focus(); page.keyboard.press("ArrowRight"); wait_for_app(page)
        screenshot(page, "heatmap")
        assert_no_console_errors(page)

Useful Streamlit 1.67 test ids: stApp, stMain, stSidebar, stPageLink, stException, stPlotlyChart,
stMarkdown, stSlider, stSelectbox, stButton, stStatusWidget / stStatusWidgetRunningIcon.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import _harness as h  # noqa: E402


def _is_browser_item(item) -> bool:
    try:
        return Path(str(item.path)).resolve().is_relative_to(HERE)
    except (AttributeError, OSError):
        return False


# The class rooms' long multi-context scenarios (two still non-strict xfail) run after every other browser test:
# whatever they leave behind (a stuck Chromium context, a busy machine) cannot cost the page tests their result.
RUN_LAST = {"test_class_rooms.py"}


def pytest_collection_modifyitems(config, items):
    # Note: this hook sees every collected item, not only this folder's.
    browser, last, other = [], [], []
    for item in items:
        if _is_browser_item(item):
            item.add_marker(pytest.mark.browser)
            (last if Path(str(item.path)).name in RUN_LAST else browser).append(item)
        else:
            other.append(item)
    items[:] = other + browser + last



@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


@pytest.fixture(scope="session")
def streamlit_server():
    """Base URL of app.py served by `streamlit run` from the repo root."""
    app = h.REPO_ROOT / "app.py"
    if not app.exists():
        pytest.fail(f"{app} does not exist")
    with h.StreamlitServer(app, cwd=h.REPO_ROOT, log_path=h.ARTIFACTS / "streamlit-server.log") as server:
        yield server.url


@pytest.fixture(scope="session")
def _playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        if h.in_ci():
            pytest.fail(f"playwright is not importable in CI: {e}")
        pytest.skip(f"playwright is not installed: {e}")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def chromium(_playwright):
    if not Path(h.CHROMIUM_PATH).exists():
        msg = f"{h.CHROMIUM_PATH} is missing (apt-get install -y chromium)"
        if h.in_ci():
            pytest.fail(msg + ": browser tests must run in CI")
        pytest.skip(msg)
    browser = h.launch_chromium(_playwright)
    yield browser
    browser.close()


@pytest.fixture
def page(request, chromium):
    """A fresh context and page; `page.console_errors` collects errors (see the module docstring)."""
    context = chromium.new_context(viewport=h.VIEWPORT)
    context.set_default_timeout(h.DEFAULT_TIMEOUT_MS)
    pg = context.new_page()
    pg.console_errors = h.collect_errors(pg)
    yield pg
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        try:
            h.screenshot(pg, f"FAILED-{request.node.name}")
        except Exception as e:  # the page may be gone; the failure itself matters more
            print(f"could not save failure screenshot: {e}", file=sys.stderr)
    context.close()


@pytest.fixture
def browser_context_factory(chromium):
    """Call it to get a page in a brand-new browser context (its own cookies, storage and Streamlit session)."""
    contexts = []

    def new_page():
        context = chromium.new_context(viewport=h.VIEWPORT)
        context.set_default_timeout(h.DEFAULT_TIMEOUT_MS)
        contexts.append(context)
        pg = context.new_page()
        pg.console_errors = h.collect_errors(pg)
        return pg

    yield new_page
    for context in contexts:
        context.close()
