"""The /compute page under AppTest: counts follow the sidebar, the measurement runs on demand."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.app import pages
from tests.app.pages import metrics

PAGE = "pages/4_compute.py"


def open_page(params: dict | None = None) -> AppTest:
    return pages.open_page(PAGE, params)


def test_counts_follow_the_sidebar():
    at = open_page({"num_experts": "16", "top_k": "1"})
    assert not at.exception
    assert metrics(at)["Rule of thumb k/N"] == "6.2%" or metrics(at)["Rule of thumb k/N"] == "6.3%"
    total_16 = metrics(at)["Total parameters"]
    at2 = open_page({"num_experts": "8", "top_k": "1"})
    assert metrics(at2)["Total parameters"] != total_16
    assert metrics(at2)["Rule of thumb k/N"] == "12.5%"


@pytest.mark.timeout(300)
def test_measure_button_times_all_three():
    at = open_page({"batch": "16", "num_experts": "4"})
    assert not at.exception
    at.button(key="measure").click().run(timeout=200)
    assert not at.exception
    assert any("Dense-all takes" in md.value for md in at.markdown)


def test_bad_batch_in_link_warns_and_uses_default():
    at = open_page({"batch": "9999999"})
    assert not at.exception and at.warning
    assert at.select_slider(key="batch").value == 256


def test_active_share_is_not_drawn_as_an_increase():
    at = open_page({"num_experts": "8", "top_k": "2"})
    active = next(m for m in at.metric if m.label == "Active per token")
    assert active.delta.endswith("of total")
    assert active.proto.direction == active.proto.NONE  # was UP: "↑ 25.1 %" read as a rise
