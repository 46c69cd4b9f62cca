"""Every measure a page prints is defined in plain words on the same page, next to where it appears."""
import pytest

from moeviz.glossary import MEASURES
from tests.app.pages import open_page


def captions(at) -> str:
    return "\n".join(c.value for c in at.caption)


@pytest.mark.parametrize("page, params, terms", [
    ("pages/1_heatmap.py", None, ("load CV",)),  # the default: the olmoe-tiny checkpoint's views
    ("pages/1_heatmap.py", {"model": "moeviz-lm"}, ("load CV", "lift", "blind router")),
    ("pages/5_variants.py", None, ("load CV",)),
    ("app.py", {"step": "6"}, ("combine check",)),
])
def test_the_page_defines_what_it_shows(page, params, terms):
    at = open_page(page, params)
    assert not at.exception
    for term in terms:
        assert MEASURES[term] in captions(at), (page, term)


@pytest.mark.timeout(300)
def test_the_balance_lab_defines_load_cv_and_specialization():
    at = open_page("pages/2_balance.py", {"num_experts": "4", "top_k": "1"}, timeout=120)
    at.select_slider(key="train_steps").set_value(50)
    at.button(key="balance_train").click().run()
    assert not at.exception
    said = captions(at)
    assert MEASURES["load CV"] in said and MEASURES["specialization"] in said
    assert next(m for m in at.metric if m.label == "specialization").help == MEASURES["specialization"]

