"""/parallel and /compute in Chromium: load, run the worker processes and the timing on demand, screenshot."""
from _harness import assert_no_console_errors, assert_no_exception, open_app, screenshot, wait_for_app


def test_parallel_page_runs_workers(page, streamlit_server):
    open_app(page, streamlit_server, "/parallel?capacity_factor=0.75&num_experts=4&top_k=2")
    assert_no_exception(page)
    assert page.get_by_text("Slots per expert (C)").is_visible()
    page.get_by_role("button", name="Run on worker processes").click()
    page.get_by_text("Step, balanced (no drops)").wait_for(timeout=240_000)  # the outcome, not a guess at rerun timing
    wait_for_app(page, timeout_ms=240_000)
    assert_no_exception(page)
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 4
    screenshot(page, "parallel-after-run")
    assert_no_console_errors(page)


def test_compute_page_measures(page, streamlit_server):
    open_app(page, streamlit_server, "/compute?batch=64&num_experts=8")
    assert_no_exception(page)
    page.get_by_role("button", name="Measure sparse vs dense").click()
    page.get_by_text("Dense-all takes").wait_for(timeout=120_000)
    wait_for_app(page, timeout_ms=120_000)
    assert_no_exception(page)
    screenshot(page, "compute-after-measure")
    assert_no_console_errors(page)
