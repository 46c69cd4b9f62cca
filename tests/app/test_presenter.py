"""Presenter mode and presets: the pure helpers, then the sidebar tools under AppTest."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from moeviz.app.params import ParamError
from moeviz.app.params import parse_flag
from moeviz.app.presenter import CONTROL_KEYS, parse_keys, presenter_css, presenter_params, share_url
from moeviz.app.style import APP_CSS
from moeviz.presets import PRESETS_BY_KEY

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import streamlit as st
import moeviz.app as app
controls = app.sidebar("presenter test")  # the sidebar draws the presets, presenter switch and link
text = st.text_input("Sentence", value=app.url_value("text", "hello", app.parse_text(100)), key="text",
                     disabled=app.locked("text"))
app.set_url_value("text", text)
st.markdown(f"router={controls.router} k={controls.top_k} N={controls.num_experts} cf={controls.capacity_factor}")
"""


def test_css_hides_only_known_controls():
    css = presenter_css(hidden=("seed", "router"))
    assert ".st-key-seed { display: none !important; }" in css and ".st-key-router" in css
    assert "font-size: 20px" in css and ".st-key-num_experts" not in css
    with pytest.raises(ValueError):
        presenter_css(hidden=("x} body{display:none",))


def test_link_parsers():
    assert parse_flag("1") and parse_flag(" true ") and not parse_flag("0")
    with pytest.raises(ParamError):
        parse_flag("<script>")
    assert parse_keys("seed, top_k,seed") == ("seed", "top_k")
    with pytest.raises(ParamError):
        parse_keys("seed,}{")
    assert set(CONTROL_KEYS) >= {"num_experts", "top_k", "router", "text"}


def test_share_url_keeps_the_page_and_encodes_values():
    url = share_url("http://host:8501/variants?old=1#x", {"top_k": "2", "text": "a&b <c>"})
    assert url == "http://host:8501/variants?top_k=2&text=a%26b+%3Cc%3E"
    assert share_url(None, {"k": "1"}) == "/?k=1"
    assert presenter_params({"on": False, "hide": ("seed",), "lock": ()}) == {}
    assert presenter_params({"on": True, "hide": ("seed",), "lock": ("top_k",)}) == \
        {"present": "1", "hide": "seed", "lock": "top_k"}


def styles(at):
    """The presenter's CSS of this run (the app's own fixed stylesheet, drawn on every run, left out)."""
    return " ".join(block.proto.body for block in at.get("html") if block.proto.body != f"<style>{APP_CSS}</style>")


def run(params=None) -> AppTest:
    at = AppTest.from_string(SCRIPT, default_timeout=60)
    at.query_params.update(params or {})
    return at.run()


def test_present_link_turns_on_presenter_mode():
    at = run({"present": "1", "hide": "seed", "lock": "top_k"})
    assert not at.exception
    assert at.toggle(key="presenter_on").value is True
    css = styles(at)
    assert ".st-key-seed { display: none" in css and ".st-key-top_k" not in css  # locked is disabled, not styled
    assert at.slider(key="top_k").disabled and not at.slider(key="num_experts").disabled
    assert at.query_params["present"] == "1"
    link = [c.value for c in at.code][0]
    assert "present=1" in link and "hide=seed" in link and "top_k=" in link
    at.toggle(key="presenter_on").set_value(False).run()
    assert not at.exception and "st-key-seed" not in styles(at)
    assert not at.slider(key="top_k").disabled  # unlocked in the same run the switch went off
    assert "present" not in at.query_params


def test_a_lock_chosen_in_the_sidebar_applies_at_once_and_blocks_changes():
    at = run({"present": "1"})
    assert not at.text_input(key="text").disabled
    at.multiselect(key="presenter_lock").set_value(["text", "router"]).run()
    assert not at.exception
    assert at.text_input(key="text").disabled and at.selectbox(key="router").disabled
    assert at.query_params["lock"] in ("text,router", ["text,router"])
    assert not at.slider(key="top_k").disabled


def test_lock_without_presenter_mode_locks_nothing():
    at = run({"lock": "top_k"})
    assert not at.exception and not at.slider(key="top_k").disabled


def test_walkthrough_step_lock_disables_the_stepper():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update({"present": "1", "lock": "step,token", "step": "3"})
    at.run()
    assert not at.exception
    assert at.button(key="prev_step").disabled and at.button(key="next_step").disabled
    assert at.button_group(key="token").disabled and at.segmented_control(key="step").disabled
    assert any(t.value.startswith("Step 3 / 6") for t in at.title)  # presenter mode: the step heading is the title


def test_without_the_flag_nothing_changes():
    at = run()
    assert not at.exception and at.toggle(key="presenter_on").value is False and "font-size" not in styles(at)


def test_bad_presenter_link_warns_and_falls_back():
    at = run({"present": "maybe", "hide": "seed,nonsense"})
    assert not at.exception and len(at.warning) == 2
    assert at.toggle(key="presenter_on").value is False


@pytest.mark.parametrize("key", ["switch_tight", "deepseek", "collapse"])
def test_preset_button_sets_the_controls_and_the_link(key):
    preset = PRESETS_BY_KEY[key]
    at = run()
    at.button(key=f"preset_{key}").click().run()
    assert not at.exception
    expected_cf = None if preset.capacity_factor == "off" else float(preset.capacity_factor)
    assert at.main.markdown[-1].value == (f"router={preset.router} k={preset.top_k} N={preset.num_experts} "
                                     f"cf={expected_cf}")
    assert at.selectbox(key="router").value == preset.router
    for name, value in preset.url_params().items():
        assert at.query_params[name] == value
    link = [c.value for c in at.code][0]
    assert f"router={preset.router}" in link


def test_link_shows_the_page_input_typed_in_this_run():
    at = run({"text": "first words"})
    assert "text=first+words" in at.code[0].value
    at.text_input(key="text").set_value("new words").run()  # the page writes the link after the sidebar
    assert "text=new+words" in at.code[0].value


def test_hostile_presenter_values_are_quoted_inert():
    at = run({"present": "[x](javascript:alert(1))", "lock": "<script>alert('x')</script>"})
    assert not at.exception and len(at.warning) == 2
    for warning in at.warning:
        assert "](javascript" not in warning.value and "<script>" not in warning.value
    assert "st-key-" not in styles(at)


def test_walkthrough_offers_the_handout():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    buttons = [b for b in at.get("download_button") if b.proto.id and "handout" in b.proto.id]
    assert len(buttons) == 1 and "Handout" in buttons[0].proto.label


def test_the_walkthrough_link_names_its_text_token_and_step_on_a_first_visit():
    """The page writes its own values after the sidebar is drawn: the link is redrawn with them, not one run late."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    link = at.sidebar.code[0].value
    for key in ("text=", "token=0", "step=1", "num_experts=8"):
        assert key in link, (key, link)


def test_the_link_follows_the_step_shown():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    for _ in range(3):
        at.button(key="next_step").click().run()
    assert "Step 4 / 6" in " ".join(m.value for m in at.markdown)
    assert "step=4" in at.sidebar.code[0].value and at.query_params["step"] == "4"
