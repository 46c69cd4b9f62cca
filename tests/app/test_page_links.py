"""Every knob that changes what a page shows is in its link: a shared link sets the widgets, and moving a widget
writes the link. (The shared sidebar controls are covered in test_sidebar.py.)"""
import pytest

from tests.app.pages import open_page

from moeviz.app.compute_page import DEVICES as COMPUTE_DEVICES
from moeviz.app.params import url_text
from moeviz.parallel.model import MODEL_SHAPES
from moeviz.quiz import QUESTION_KINDS

# page, link values, the widget values they must give (by key)
CASES = [
    ("pages/2_balance.py", {"balance_mode": "sweep", "balance_method": "aux_free", "train_steps": "50",
                            "train_lr": "0.003"},
     {"balance_mode": "sweep", "balance_method": "aux_free", "train_steps": 50, "train_lr": 0.003}),
    ("pages/3_parallel.py", {"skew": "0.5", "model_shape": "deepseek-v3", "hardware": "cpu-ethernet",
                             "workers": "4", "tokens": "16", "drop_policy": "priority"},
     {"skew": 0.5, "model_shape": "deepseek-v3", "hardware": "cpu-ethernet", "workers": 4, "tokens": 16,
      "drop_policy": "priority"}),
    # "device" has a radio only where the server has more than the CPU (moeviz.app.compute_page.DEVICES)
    ("pages/4_compute.py", {"batch": "64", "device": "cpu"},
     {"batch": 64, **({"device": "cpu"} if len(COMPUTE_DEVICES) > 1 else {})}),
    ("pages/5_variants.py", {"bias_steps": "7", "text": "Two words"}, {"bias_steps": 7, "text": "Two words"}),
    ("pages/6_quiz.py", {"quiz_kinds": f"{QUESTION_KINDS[1]},{QUESTION_KINDS[0]}", "q": "5"},
     {"quiz_kinds": [QUESTION_KINDS[0], QUESTION_KINDS[1]], "q": 5}),
]


def widget_values(at) -> dict:
    found = {}
    for kind in ("radio", "select_slider", "slider", "selectbox", "multiselect", "number_input", "text_input"):
        for widget in getattr(at, kind):
            if widget.key:
                found[widget.key] = widget.value
    return found


def as_link_text(value) -> str:
    return url_text(tuple(value) if isinstance(value, list) else value)


@pytest.mark.parametrize("page, params, expected", CASES, ids=[c[0].split("_", 1)[1][:-3] for c in CASES])
def test_link_sets_the_widgets_and_the_widgets_stay_in_the_link(page, params, expected):
    at = open_page(page, params)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.warning, [w.value for w in at.warning]
    values = widget_values(at)
    assert {key: values[key] for key in expected} == expected
    for key, value in expected.items():  # written back in the link's own spelling
        assert at.query_params[key] in (as_link_text(value), [as_link_text(value)])


def test_moving_a_page_knob_updates_the_link():
    at = open_page("pages/3_parallel.py")
    at.select_slider(key="skew").set_value(0.25).run()
    at.selectbox(key="model_shape").set_value("this-app").run()
    assert not at.exception
    assert at.query_params["skew"] in ("0.25", ["0.25"])
    assert at.query_params["model_shape"] in ("this-app", ["this-app"])


def test_every_model_shape_has_a_link_name():
    at = open_page("pages/3_parallel.py")
    assert len(at.selectbox(key="model_shape").options) == len(MODEL_SHAPES)


def test_a_device_this_machine_lacks_warns_and_falls_back():
    at = open_page("pages/4_compute.py", {"device": "mps-or-tpu"})
    assert not at.exception
    assert at.warning
    if len(COMPUTE_DEVICES) > 1:
        assert at.radio(key="device").value == "cpu"
    else:  # one choice: no radio, the caption says where it runs, and the link gets the value it fell back to
        assert any("Runs on this server's CPU" in c.value for c in at.caption)
    assert at.query_params["device"] in ("cpu", ["cpu"])
