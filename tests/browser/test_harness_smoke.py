"""The browser harness itself, on a tiny throwaway multipage app (independent of the real app.py)."""

from __future__ import annotations

import os
import textwrap
import urllib.request

import pytest

from _harness import (
    StreamlitServer,
    assert_no_console_errors,
    assert_no_exception,
    is_streamlit_probe_404,
    open_app,
    screenshot,
    wait_for_app,
    ARTIFACTS,
)

MAIN = """
import time
import streamlit as st
st.set_page_config(page_title="harness smoke")
st.title("Harness smoke")
if "clicks" not in st.session_state:
    st.session_state.clicks = 0
if st.button("Add one"):
    st.session_state.clicks += 1
if st.button("Slow add"):
    time.sleep(2)  # wait_for_app must wait for this run, not return on the previous one
    st.session_state.clicks += 10
st.markdown(f"clicks = {st.session_state.clicks}")
"""
SECOND = """
import streamlit as st
st.title("Second page")
st.markdown(f"param = {st.query_params.get('x', 'none')}")
"""
BROKEN = """
import streamlit as st
st.title("Broken page")
raise ValueError("deliberately broken for the harness test")
"""


@pytest.fixture(scope="module")
def smoke_app(tmp_path_factory):
    root = tmp_path_factory.mktemp("smoke_app")
    (root / "pages").mkdir()
    (root / "smoke.py").write_text(textwrap.dedent(MAIN))
    (root / "pages" / "1_second.py").write_text(textwrap.dedent(SECOND))
    (root / "pages" / "2_broken.py").write_text(textwrap.dedent(BROKEN))
    return root


@pytest.fixture(scope="module")
def smoke_server(smoke_app):
    with StreamlitServer("smoke.py", cwd=smoke_app, log_path=ARTIFACTS / "streamlit-server-smoke.log") as server:
        yield server.url


def test_home_renders_and_reruns_on_click(page, smoke_server):
    open_app(page, smoke_server)
    assert page.locator('[data-testid="stApp"]').count() == 1
    assert page.get_by_text("clicks = 0").is_visible()
    page.get_by_role("button", name="Add one").click()
    page.get_by_text("clicks = 1").wait_for(timeout=60_000)
    wait_for_app(page)
    page.get_by_role("button", name="Slow add").click()
    page.get_by_text("clicks = 11").wait_for(timeout=60_000)
    wait_for_app(page)
    assert_no_exception(page)
    path = screenshot(page, "harness-smoke-home")
    assert path.stat().st_size > 5_000  # a real rendering, not an empty file
    assert_no_console_errors(page)


def test_deep_link_probes_are_ignored(page, smoke_server):
    # Streamlit probes /second/_stcore/{health,host-config} first; those 404s must not count as errors.
    open_app(page, smoke_server, "/second?x=42")
    assert page.get_by_text("param = 42").is_visible()
    assert_no_exception(page)
    screenshot(page, "harness-smoke-deeplink")
    assert_no_console_errors(page)


def test_errors_are_collected(page, smoke_server):
    open_app(page, smoke_server)
    page.evaluate("console.error('deliberate console error')")
    page.evaluate("setTimeout(() => { throw new Error('deliberate page error') }, 0)")
    page.wait_for_timeout(300)
    assert any("deliberate console error" in e for e in page.console_errors)
    assert any("deliberate page error" in e for e in page.console_errors)
    with pytest.raises(AssertionError):
        assert_no_console_errors(page)
    page.console_errors.clear()  # keep the failure-screenshot hook quiet


def test_script_exception_is_detected(page, smoke_server):
    open_app(page, smoke_server, "/broken")
    with pytest.raises(AssertionError, match="deliberately broken"):
        assert_no_exception(page)


@pytest.mark.parametrize(
    ("text", "resource", "page_url", "ignored"),
    [
        ("Failed to load resource: the server responded with a status of 404 (Not Found)",
         "http://127.0.0.1:8501/heatmap/_stcore/health", "http://127.0.0.1:8501/heatmap?top_k=2", True),
        ("Failed to load resource: the server responded with a status of 404 (Not Found)",
         "http://127.0.0.1:8501/heatmap/_stcore/host-config", "http://127.0.0.1:8501/heatmap", True),
        # the real endpoint failing is a genuine error
        ("Failed to load resource: the server responded with a status of 404 (Not Found)",
         "http://127.0.0.1:8501/_stcore/health", "http://127.0.0.1:8501/heatmap", False),
        # another page's prefix, another endpoint, another origin, another status: all count
        ("Failed to load resource: the server responded with a status of 404 (Not Found)",
         "http://127.0.0.1:8501/balance/_stcore/health", "http://127.0.0.1:8501/heatmap", False),
        ("Failed to load resource: the server responded with a status of 404 (Not Found)",
         "http://127.0.0.1:8501/heatmap/_stcore/stream", "http://127.0.0.1:8501/heatmap", False),
        ("Failed to load resource: the server responded with a status of 404 (Not Found)",
         "http://127.0.0.1:9999/heatmap/_stcore/health", "http://127.0.0.1:8501/heatmap", False),
        ("Failed to load resource: the server responded with a status of 500 (Internal Server Error)",
         "http://127.0.0.1:8501/heatmap/_stcore/health", "http://127.0.0.1:8501/heatmap", False),
        ("Failed to load resource: the server responded with a status of 404 (Not Found)",
         "http://127.0.0.1:8501/static/js/missing.js", "http://127.0.0.1:8501/heatmap", False),
        # a page the browser was at before the frontend rewrote the address
        ("Failed to load resource: the server responded with a status of 404 (Not Found)",
         "http://127.0.0.1:8501/heatmap/_stcore/health",
         ["http://127.0.0.1:8501/heatmap/", "http://127.0.0.1:8501/"], True),
    ],
)
def test_probe_filter_is_precise(text, resource, page_url, ignored):
    assert is_streamlit_probe_404(text, resource, page_url) is ignored


def test_server_stop_leaves_no_process(smoke_app):
    server = StreamlitServer("smoke.py", cwd=smoke_app, log_path=ARTIFACTS / "streamlit-server-smoke-stop.log")
    server.start()
    pgid = server.proc.pid
    with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=5) as r:
        assert r.read() == b"ok"
    server.stop()
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)  # no process left in the server's group
    assert server.proc is None
    server.stop()  # idempotent
