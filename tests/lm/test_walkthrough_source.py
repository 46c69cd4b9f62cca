"""The walkthrough's layer switch: the trained model's layer by default, the random layer on request."""
from pathlib import Path

from streamlit.testing.v1 import AppTest

from moeviz.lm.shipped import load_shipped

ROOT = Path(__file__).resolve().parents[2]


def test_walkthrough_on_moeviz_lm_switches_to_random_and_back():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.query_params["model"] = "moeviz-lm"  # the older LM, kept for old links (the default is olmoe-tiny)
    at.run()
    assert not at.exception
    assert any("trained here on Python's documentation" in c.value for c in at.caption)
    at.toggle(key="trained").set_value(False).run()
    assert any("random weights" in c.value for c in at.caption)
    at.toggle(key="trained").set_value(True).run()
    assert not at.exception
    assert any("trained here on Python's documentation" in c.value for c in at.caption)
    at.radio(key="lm_layer").set_value(1).run()
    at.toggle(key="misreading").set_value(True).run()
    assert not at.exception
    assert at.query_params["trained"] == "1"  # the switch is in the link
    at.toggle(key="trained").set_value(False).run()
    assert not at.exception
    assert any("random weights" in c.value for c in at.caption)


def test_trained_layer_keeps_the_picked_k_when_the_sidebar_router_is_switch():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.query_params.update({"trained": "1", "router": "switch", "top_k": "3", "num_experts": "8"})
    at.run()
    assert not at.exception
    assert any("softmax → top-3 routing" in c.value for c in at.caption)


def test_walkthrough_token_pills_are_the_models_tokens():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.query_params.update({"trained": "1", "text": "The for loop runs."})
    at.run()
    assert not at.exception
    expected = load_shipped(8).route("The for loop runs.").labels
    pills = at.get("button_group")[0] if at.get("button_group") else None
    assert pills is not None and len(pills.proto.options) == len(expected)
