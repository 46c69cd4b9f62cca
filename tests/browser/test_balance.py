"""/balance in Chromium: a run trains live (progress and charts appear while it runs), finishes, and can be stopped."""
from __future__ import annotations

import re

import pytest

from _harness import assert_no_console_errors, assert_no_exception, open_app, screenshot, wait_for_app


def _button(page, name: str):
    return page.get_by_role("button", name=name, exact=True)


@pytest.mark.timeout(300)
def test_balance_trains_live_and_keeps_the_run(page, streamlit_server):
    open_app(page, streamlit_server, "/balance?balance_weight=0&num_experts=8&top_k=2")
    assert_no_exception(page)
    _button(page, "Train").click()
    page.get_by_text("What this run shows").wait_for(timeout=120_000)
    wait_for_app(page, timeout_ms=120_000)
    assert_no_exception(page)
    main = page.get_by_test_id("stMain")
    assert main.get_by_test_id("stPlotlyChart").count() >= 4  # load heatmap, losses, health, assignment
    assert main.get_by_text("max / mean load").count() >= 1
    assert main.get_by_text("What this run shows").count() == 1
    assert "finished" in main.inner_text()
    screenshot(page, "balance")
    main.get_by_test_id("stPlotlyChart").nth(3).scroll_into_view_if_needed()  # the app scrolls inside stMain
    screenshot(page, "balance-results")
    assert_no_console_errors(page)


@pytest.mark.timeout(300)
def test_balance_charts_update_live_and_stop_keeps_the_partial_run(page, streamlit_server):
    # 64 experts, k = 8: slow enough per step that Stop lands mid-run even on a quiet machine
    open_app(page, streamlit_server, "/balance?balance_weight=0.3&num_experts=64&top_k=8")
    page.get_by_role("slider", name=re.compile("Training steps")).focus()
    page.keyboard.press("End")  # 1000 steps: long enough to stop midway
    wait_for_app(page)
    _button(page, "Train").click()
    # Live: while the script still runs, the progress bar counts steps and the charts are already drawn.
    page.get_by_text(re.compile(r"Training: step \d+ / 1000")).wait_for(timeout=60_000)
    page.get_by_test_id("stPlotlyChart").first.wait_for(timeout=60_000)
    assert page.get_by_text("Results", exact=True).count() == 0  # still training
    screenshot(page, "balance-training")
    # force: while the charts redraw every few steps the button never looks "stable" to Playwright, which
    # would otherwise hold the click back until training had finished.
    _button(page, "Stop").click(force=True)
    wait_for_app(page, timeout_ms=120_000)
    assert_no_exception(page)
    text = page.get_by_test_id("stMain").inner_text()
    assert "stopped at step" in text and "of 1000" in text
    screenshot(page, "balance-stopped")
    assert_no_console_errors(page)
