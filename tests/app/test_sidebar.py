"""The shared sidebar: link parsing rules (pure), then the controls, the link and the page links under AppTest."""
import math
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from moeviz.app.nav import PAGES
from moeviz.config import MoEConfig
from moeviz.app.params import (BALANCE_WEIGHTS, DEFAULTS, SHARED_KEYS, ParamError, ReadResult, fit_top_k,
                               parse_capacity, parse_choice, parse_flag, parse_float_choice, parse_int, parse_text,
                               read_param, read_shared)

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")


# --- pure parsing rules ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", ["abc", "", "1.5", "nan", "inf", "1e3", "0x10", "99999999999999"])
def test_parse_int_rejects_non_integers(raw):
    with pytest.raises(ParamError):
        parse_int(0, 100)(raw)


def test_parse_int_bounds():
    assert parse_int(2, 64)(" 16 ") == 16
    for raw in ("1", "65", "-3"):
        with pytest.raises(ParamError, match="outside"):
            parse_int(2, 64)(raw)


def test_parse_float_choice_snaps_equal_spellings_and_rejects_nan():
    parse = parse_float_choice(BALANCE_WEIGHTS)
    assert parse("1e-2") == parse("0.010") == 0.01
    for raw in ("nan", "-inf", "0.02", "x"):
        with pytest.raises(ParamError):
            parse(raw)


def test_parse_capacity():
    assert parse_capacity("off") == parse_capacity("None") == "off"
    assert parse_capacity("1.250") == "1.25" and parse_capacity("2.0") == "2"
    with pytest.raises(ParamError):
        parse_capacity("-1")


def test_parse_choice_text_and_flag():
    assert parse_choice(("a", "b"))(" b ") == "b"
    with pytest.raises(ParamError):
        parse_choice(("a", "b"))("c")
    assert parse_text(10)("hi") == "hi"
    assert parse_text(20)("a\r\nb\tc\x00\x1b") == "a b c"  # one line: breaks become spaces, controls go
    assert parse_text(20, multiline=True)("a\r\nb\rc\td\x07") == "a\nb\nc\td"  # a text area keeps its lines
    for raw in ("   ", "x" * 11):
        with pytest.raises(ParamError):
            parse_text(10)(raw)
    assert parse_flag("on") is True and parse_flag("0") is False


def test_hostile_values_are_quoted_back_inert():
    with pytest.raises(ParamError) as problem:
        parse_int(0, 9)("[click](http://evil.example) " + "x" * 100)
    message = str(problem.value)
    assert "](" not in message and "\\[click\\]" in message and len(message) < 120


def test_read_param_repeated_and_bad():
    assert read_param("k", [], parse_int(1, 8), 2).value == 2
    result = read_param("k", ["3", "4"], parse_int(1, 8), 2)
    assert result.value == 4 and "2 times" in result.warning
    result = read_param("k", ["zz"], parse_int(1, 8), 2)
    assert result.value == 2 and "Ignored `k`" in result.warning


def test_read_param_maps_an_old_name_to_the_new_one_with_a_note():
    parse = parse_choice(("position", "priority", "weight"), {"probability": "weight"})
    result = read_param("drop_policy", ["probability"], parse, "position")
    assert result.value == "weight"
    assert "`drop_policy`" in result.warning and "old name" in result.warning and "weight" in result.warning
    assert read_param("drop_policy", ["weight"], parse, "position") == ReadResult("weight", None)
    assert read_param("drop_policy", ["nope"], parse, "position").value == "position"


def test_read_shared_clamps_k_to_the_experts():
    link = {"num_experts": ["4"], "top_k": ["6"]}
    values, warnings = read_shared(lambda key: link.get(key, []))
    assert values["top_k"] == 4 and values["num_experts"] == 4
    assert len(warnings) == 1 and "k = 6" in warnings[0] and "Switch" not in warnings[0]
    _, warnings = read_shared(lambda key: {**link, "router": ["switch"]}.get(key, []))
    assert "using k = 4" in warnings[0] and "Switch routing itself runs k = 1" in warnings[0]


def test_read_shared_defaults_without_a_link():
    values, warnings = read_shared(lambda key: [])
    assert values == DEFAULTS and warnings == []


def test_fit_top_k():
    assert fit_top_k(2, 8) == (2, None)  # the learner's k; Switch's k = 1 is the layer's rule, below
    assert fit_top_k(8, 16) == (8, None)
    assert fit_top_k(5, 3)[0] == 3


def test_one_builder_from_controls_to_a_layer():
    from moeviz.app.controls import Controls
    controls = Controls(num_experts=8, top_k=3, router="switch", balance_weight=0.01, capacity_factor=None, seed=4,
                        device="CPU")
    cfg = controls.moe_config(d_model=16)
    assert (cfg.num_experts, cfg.top_k, cfg.router, cfg.seed, cfg.d_model) == (8, 1, "switch", 4, 16)
    assert controls.top_k == 3  # the learner's k stays for the pages that route another way
    assert MoEConfig.routed_top_k("switch", 3) == 1 and MoEConfig.routed_top_k("softmax_topk", 3) == 3


# --- the sidebar under AppTest -------------------------------------------------------------------------------

def run_app(**link) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    for key, value in link.items():
        at.query_params[key] = value
    return at.run()


def test_defaults_are_written_into_the_link():
    at = run_app()
    assert not at.exception
    for key in SHARED_KEYS:
        assert at.query_params[key] == str(DEFAULTS[key]) if not isinstance(DEFAULTS[key], float) \
            else math.isclose(float(at.query_params[key]), DEFAULTS[key])
    assert "CPU" in " ".join(c.value for c in at.sidebar.caption) or "CUDA" in " ".join(
        c.value for c in at.sidebar.caption)


def test_a_good_link_sets_the_controls():
    at = run_app(num_experts="16", top_k="4", router="topk_softmax", balance_weight="0.1", capacity_factor="1.5",
                 seed="7")
    assert not at.exception and not at.warning
    assert at.slider(key="num_experts").value == 16 and at.slider(key="top_k").value == 4
    assert at.selectbox(key="router").value == "topk_softmax"
    assert at.select_slider(key="capacity_factor").value == "1.5"
    assert at.select_slider(key="balance_weight").value == 0.1
    assert at.number_input(key="seed").value == 7


@pytest.mark.parametrize(("link", "key", "fallback"), [
    ({"top_k": "abc"}, "top_k", 2),
    ({"num_experts": "-3"}, "num_experts", 8),
    ({"num_experts": "NaN"}, "num_experts", 8),
    ({"seed": "-1"}, "seed", 0),
    ({"balance_weight": "nan"}, "balance_weight", 0.01),
    ({"capacity_factor": "<b>x</b>"}, "capacity_factor", "off"),
])
def test_a_hostile_link_warns_and_falls_back(link, key, fallback):
    at = run_app(**link)
    assert not at.exception
    assert len(at.warning) == 1 and f"`{key}`" in at.warning[0].value
    widget = {"top_k": at.slider, "num_experts": at.slider, "seed": at.number_input,
              "balance_weight": at.select_slider, "capacity_factor": at.select_slider}[key](key=key)
    assert widget.value == fallback


def test_unknown_router_and_repeated_values():
    at = run_app(router="nope", top_k=["3", "5"])
    assert not at.exception
    text = " ".join(w.value for w in at.warning)
    assert "`router`" in text and "2 times" in text
    assert at.selectbox(key="router").value == "softmax_topk" and at.slider(key="top_k").value == 5


def test_k_larger_than_the_experts_is_clamped_with_a_warning():
    at = run_app(num_experts="3", top_k="7")
    assert not at.exception and len(at.warning) == 1
    assert at.slider(key="top_k").value == 3 and at.slider(key="top_k").max == 3


def test_switch_router_runs_k_1_and_keeps_the_chosen_k():
    at = run_app(top_k="3", trained="0")  # the sidebar's router runs the random layer (the trained one keeps its own)
    at.selectbox(key="router").set_value("switch").run()
    assert not at.exception
    assert "1 of 8 experts run" in " ".join(m.value for m in at.markdown)
    assert any("Switch" in c.value for c in at.sidebar.caption)
    assert at.query_params["top_k"] == "3"  # the learner's k stays in the link...
    at.selectbox(key="router").set_value("softmax_topk").run()
    assert at.slider(key="top_k").value == 3  # ...and comes back with another router


def test_fewer_experts_shrinks_k():
    at = run_app(top_k="6")
    at.slider(key="num_experts").set_value(4).run()
    assert not at.exception
    assert at.slider(key="top_k").value == 4 and at.query_params["top_k"] == "4"


def test_moving_a_control_updates_the_link():
    at = run_app()
    at.slider(key="num_experts").set_value(12).run()
    at.select_slider(key="capacity_factor").set_value("2").run()
    assert at.query_params["num_experts"] == "12" and at.query_params["capacity_factor"] == "2"


def test_every_page_file_is_linked_in_menu_order():
    at = run_app()
    assert PAGES[0].path == "app.py"
    on_disk = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("*.py"))
    assert sorted(p.path for p in PAGES[1:]) == on_disk  # no page file unlisted, no listed page missing
    links = at.sidebar.page_link
    assert [link.proto.label for link in links] == [p.label for p in PAGES]
    at.slider(key="num_experts").set_value(12).run()
    for link in at.sidebar.page_link:  # every link carries the current controls to the next page
        assert "num_experts=12" in link.proto.query_string and "top_k=2" in link.proto.query_string


@pytest.mark.parametrize("page", [p.path for p in PAGES if p.path != "app.py"])
def test_every_existing_page_runs_and_keeps_the_controls(page):
    at = run_app(num_experts="16", top_k="3")
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.slider(key="num_experts").value == 16
    assert at.query_params["num_experts"] == "16"
    at.switch_page("app.py").run()
    assert not at.exception and at.slider(key="top_k").value == 3


def test_sidebar_offers_the_page_figures_as_one_download():
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert [b for b in at.sidebar.get("download_button") if "Figures on this page" in b.proto.label]
    figures = at.session_state["_moeviz_page_figures"]
    assert len(figures) >= 1 and all(hasattr(f, "to_html") for f in figures.values())


def test_the_teaching_tools_are_named_before_their_buttons():
    """Before: the sidebar's Presets, Presenter mode, Figures, Lesson and Class room stood with no word on what
    they are for. Now a caption above them names each, by the label the sidebar shows."""
    from moeviz.app.controls import TOOLS_WORDS
    at = AppTest.from_file(str(ROOT / "pages" / "7_glossary.py"), default_timeout=60).run()
    sidebar = [getattr(n, "value", "") for n in at.sidebar if isinstance(getattr(n, "value", None), str)]
    assert "**Teaching and sharing**" in sidebar and TOOLS_WORDS in sidebar
    labels = [e.label for e in at.sidebar.get("expander")] + [t.label for t in at.sidebar.toggle]
    for name in ("Presets", "Presenter mode", "Lesson", "Class room"):
        assert name in labels and f"*{name}*" in TOOLS_WORDS, name
    assert "*Figures*" in TOOLS_WORDS
