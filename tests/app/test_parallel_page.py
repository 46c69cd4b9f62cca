"""The /parallel page under AppTest: capacity from the link, the drop policy, the worker run, bad links."""

import math

import pytest
from streamlit.testing.v1 import AppTest

from tests.app import pages
from tests.app.pages import metrics
from tests.helpers import agree

from moeviz.config import DEFAULT_SWITCH_CAPACITY
from moeviz.parallel import current_pool, shutdown_pool

PAGE = "pages/3_parallel.py"


def open_page(params: dict | None = None) -> AppTest:
    return pages.open_page(PAGE, params)


def test_capacity_off_explains_and_drops_nothing():
    at = open_page()
    assert not at.exception
    assert metrics(at)["Dropped token copies"] == "0%"
    assert any("Capacity is **off**" in i.value for i in at.info)


def test_small_capacity_drops_and_policy_changes_who_loses():
    at = open_page({"capacity_factor": "0.5", "num_experts": "4", "top_k": "2"})
    assert not at.exception
    m = metrics(at)
    assert m["Slots per expert (C)"] == "8"  # ceil(0.5 * 32 * 2 / 4)
    assert m["Dropped token copies"] != "0%"
    lost_by_position = m["Tokens that lost every expert"]
    at.radio(key="drop_policy").set_value("probability").run()
    assert not at.exception
    assert at.query_params["drop_policy"] == ["probability"] or at.query_params["drop_policy"] == "probability"
    assert metrics(at)["Dropped token copies"] == m["Dropped token copies"]  # same count, other tokens
    assert isinstance(lost_by_position, str)


def test_switch_formula_shows_the_default_factor_it_really_uses():
    at = open_page({"router": "switch", "num_experts": "4", "top_k": "1"})  # capacity off in the sidebar
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    C = metrics(at)["Slots per expert (C)"]
    assert C == str(math.ceil(DEFAULT_SWITCH_CAPACITY * 32 * 1 / 4))
    assert f"ceil({DEFAULT_SWITCH_CAPACITY:g} · 32 · 1 / 4) = {C}" in text


def test_hostile_page_params_fall_back_with_a_warning():
    at = open_page({"drop_policy": "<script>", "workers": "999", "tokens": "-1"})
    assert not at.exception
    assert len(at.warning) >= 2
    assert at.radio(key="workers").value == 2


@pytest.mark.timeout(400)
def test_worker_run_shows_per_worker_results_and_matches_the_layer():
    at = open_page({"num_experts": "4", "top_k": "2"})
    at.button(key="run_parallel").click().run(timeout=300)
    try:
        assert not at.exception and not at.error
        m = metrics(at)
        assert m["Step time, balanced"].endswith("ms")
        assert agree(m["Parallel vs one process: outputs"])
        pool = current_pool()
        assert pool is not None and pool.world_size == 2
        pids = pool.pids
        at.button(key="run_parallel").click().run(timeout=300)  # a rerun reuses the same processes
        assert current_pool().pids == pids
    finally:
        shutdown_pool()


@pytest.mark.timeout(400)
def test_worker_run_with_capacity_drops_per_worker_and_still_matches():
    at = open_page({"num_experts": "4", "top_k": "2", "capacity_factor": "1", "skew": "0.9"})
    at.button(key="run_parallel").click().run(timeout=300)
    try:
        assert not at.exception and not at.error
        assert agree(metrics(at)["Parallel vs one process: outputs"])
        text = [m.value for m in at.markdown if "applied per worker" in m.value]
        assert text and "Capacity factor 1, applied per worker" in text[0]
        assert not [c.value for c in at.caption if c.value.startswith("For this demo")]  # nothing was replaced
    finally:
        shutdown_pool()
