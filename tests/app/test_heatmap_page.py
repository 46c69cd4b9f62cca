"""The /heatmap page under AppTest, moeviz's own LM view (model=moeviz-lm): normal, empty, huge and hostile text;
the sidebar's k and N. The checkpoint views (the default model) are in test_checkpoint_views.py."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app import pages

ROOT = Path(__file__).resolve().parents[2]
PAGE = "pages/1_heatmap.py"
HOSTILE = {
    "script": "<script>alert('x')</script> <img src=x onerror=alert(1)>",
    "rtl": "שלום עולם مرحبا بالعالم \u202eevil\u202c",
    "emoji": "🙂🧪👩‍👩‍👧 zwj and skin 👍🏽",
    "control": "a\x00b\x07c\x1b[31m red \r\n\t end",
    "markdown": "**bold** :red[x] $x^2$ [link](javascript:alert(1))",
}


LM = {"model": "moeviz-lm"}


def open_page(params: dict | None = None) -> AppTest:
    return pages.open_page(PAGE, {**LM, **(params or {})})


def set_text(at: AppTest, text: str) -> AppTest:
    at.text_area(key="text").set_value(text)
    return at.run()


def charts(at: AppTest) -> int:
    return len(at.get("plotly_chart"))


def test_default_page_draws_heatmaps_load_bars_and_specialization():
    at = open_page()
    assert not at.exception
    assert charts(at) == 2 * 2 + 1  # per layer a heatmap and load bars, plus the code-share view
    assert len(at.main.get("download_button")) == 2  # CSV and JSON; the sidebar adds the figures download
    assert any("What did the experts learn" in h.value for h in at.header)
    in_numbers = sum(len(e.dataframe) for e in at.expander if e.label.startswith("Numbers"))
    assert len(at.dataframe) - in_numbers == 4  # per layer: the expert table and its characteristic tokens (besides the charts' numbers)


def test_empty_text_gets_a_prompt_not_figures():
    at = set_text(open_page(), "   ")
    assert not at.exception
    assert any("Type a sentence" in i.value for i in at.info)
    assert charts(at) == 1  # only the corpus view


def test_huge_text_is_cut_with_a_notice():
    at = set_text(open_page(), "The loop runs. " * 7000)  # ~100k characters
    assert not at.exception
    assert at.text_area(key="text").max_chars == 2000  # the one text box's limit, the same on every page
    assert any("Long text" in w.value and "only the first 64 tokens are routed" in w.value for w in at.warning)
    assert charts(at) == 5


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_text_is_handled_and_never_rendered(name):
    at = set_text(open_page(), HOSTILE[name])
    assert not at.exception
    assert charts(at) == 5
    rendered = " ".join(str(m.value) for m in at.markdown)
    assert "<script>" not in rendered and "onerror" not in rendered


def test_expert_count_picks_the_nearest_checkpoint_and_says_so():
    at = open_page({"num_experts": "5"})
    assert not at.exception
    assert any("nearest one, with 4 experts" in i.value for i in at.info)


def test_top_k_from_the_sidebar_changes_routing():
    at = open_page({"top_k": "3"})
    assert not at.exception
    assert any("k = 3" in c.value for c in at.caption)


def test_the_sidebar_switch_router_does_not_force_k_1_on_the_trained_model():
    at = open_page({"router": "switch", "top_k": "3"})  # Switch runs k = 1 on the random layers only
    assert not at.exception
    captions = " ".join(c.value for c in at.main.caption)  # (the sidebar says Switch runs k = 1)
    assert "You picked k = 3" in captions and "k = 1" not in captions
    assert "top-3 experts" in captions


def test_preset_fills_the_text_box():
    at = open_page()
    at.selectbox(key="preset").set_value("Python code").run()
    assert not at.exception
    assert at.text_area(key="text").value.strip().startswith("def area")


def test_text_from_the_link_is_used():
    at = open_page({"text": "hello world"})
    assert not at.exception
    assert at.text_area(key="text").value == "hello world"


def test_a_link_keeps_the_lines_of_its_text():
    text = 'Prose first.\n   for i in range(3): print(i)'  # the code line is only code because it starts a line
    at = open_page({"text": text})
    assert not at.exception
    assert at.text_area(key="text").value == text
    assert at.query_params["text"] in (text, [text])


def test_text_survives_a_visit_from_and_to_the_walkthrough():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90).run()  # to the default model's view
    at.text_input(key="text").set_value("Hello from the walkthrough").run()
    at.switch_page(PAGE).run()
    assert not at.exception and not at.warning
    assert at.text_area(key="text").value == "Hello from the walkthrough"
    at.text_area(key="text").set_value("Now the heatmap text").run()
    at.switch_page("app.py").run()
    assert not at.exception
    assert at.text_input(key="text").value == "Now the heatmap text"


def olmoe_page(params: dict | None = None) -> AppTest:
    """/heatmap as it opens: olmoe-tiny on the default text."""
    return pages.open_page(PAGE, params)


def test_what_if_starts_at_the_models_own_rule_and_k():
    """It started at Switch top-1: a learner saw another model's rule before their own model's."""
    at = olmoe_page()
    assert not at.exception
    box = at.selectbox(key="whatif")
    assert box.value == "softmax_topk_raw"  # olmoe-tiny: softmax -> top-k, not renormalised (norm_topk_prob off)
    # the box names the rule alone (with its family it was cut on a phone); the line under it says whose it is
    assert box.format_func(box.value) == "softmax → top-k, not renormalised"
    assert any(c.value.startswith("**softmax → top-k, not renormalised**, as in Qwen1.5/2-MoE, OLMoE. This model's "
                                  "own rule. Renormalised: ") for c in at.main.caption)
    assert at.query_params["whatif"] == "softmax_topk_raw"
    assert any("own rule and k = 2" in c.value for c in at.main.caption)
    # its table names experts as the heatmap does (E3), not as bare numbers that read like counts
    frame = next(d for d in at.dataframe if "lost (dropped)" in d.value.columns)
    cells = [e for col in ("lost (not chosen)", "lost (dropped)", "gained") for v in frame.value[col] for e in v]
    assert cells and all(str(e).startswith("E") and str(e)[1:].isdigit() for e in cells)
    # the caption's columns first, the token's position last: at 390 px "gained" was out of view
    assert list(frame.proto.column_order) == ["text", "lost (not chosen)", "lost (dropped)", "gained", "token"]


def test_another_rule_names_the_models_own():
    at = olmoe_page({"whatif": "expert_choice"})
    assert not at.exception
    assert any(c.value == "**expert choice**, as in Expert Choice (Zhou et al. 2022). This model's own rule is "
               "softmax → top-k, not renormalised." for c in at.main.caption)


def test_an_old_link_naming_a_variant_keeps_it():
    at = olmoe_page({"whatif": "switch"})
    assert not at.exception
    assert at.selectbox(key="whatif").value == "switch"


def test_layers_past_the_glossarys_failing_line_are_named():
    from moeviz.app.heatmap_text import DEFAULT_TEXT
    from moeviz.app.runners import checkpoint_routing
    from moeviz.glossary import FAILING_MAX_MEAN_LOAD
    from moeviz.hf.shipped import nearest_olmoe
    from moeviz.load_health import chance_max_mean
    at = olmoe_page()
    assert not at.exception
    name, folder = nearest_olmoe(8)
    routing = checkpoint_routing(name, str(folder), DEFAULT_TEXT)  # the page's own routing (the same cache)
    crossing = [(layer, t.metrics["max_mean_load"]) for layer, t in zip(routing.layers, routing.traces)
                if t.metrics["max_mean_load"] >= FAILING_MAX_MEAN_LOAD]
    assert crossing  # olmoe-tiny's layer 2 on the default text
    note = next(i.value for i in at.info if "failing" in i.value)
    for layer, value in crossing:  # three decimals, as the all-layers table shows it (2.545, not 2.55)
        assert f"layer {layer} ({value:.3f})" in note
    assert f"busiest ÷ mean load of {FAILING_MAX_MEAN_LOAD:g} or more" in note and "token copies" in note
    T, k, N = routing.traces[0].num_tokens, routing.traces[0].top_k, routing.traces[0].num_experts
    chance = chance_max_mean(T, k, N)
    assert f"at random reaches {chance:.2f}" in note
    above = [layer for layer, value in crossing if value > chance]
    assert ("above that" in note) == bool(above) and all(f"layer {layer} is" in note for layer in above[:1])


def test_the_chance_yardstick_is_kept_in_the_apps_one_cache(monkeypatch):
    """The note's yardstick (200 random texts) comes from moeviz.app.runners' bounded cache: a rerun with the same
    text length computes nothing, and the core keeps no cache of its own beside it."""
    from moeviz import load_health
    from moeviz.app import runners
    from moeviz.app.heatmap_text import DEFAULT_TEXT, crowded_note
    from moeviz.hf.shipped import nearest_olmoe
    assert not hasattr(load_health.chance_max_mean, "cache_info")  # no functools cache in the core
    name, folder = nearest_olmoe(8)
    routing = runners.checkpoint_routing(name, str(folder), DEFAULT_TEXT)
    calls, measure = [], load_health.chance_max_mean
    monkeypatch.setattr(load_health, "chance_max_mean", lambda *a: calls.append(a) or measure(*a))
    runners.chance_max_mean.clear()
    notes = [crowded_note(routing.layers, routing.traces) for _ in range(2)]
    trace = routing.traces[0]
    assert notes[0] == notes[1] and notes[0] is not None  # the default text crosses the line somewhere
    assert calls == [(trace.num_tokens, trace.top_k, trace.num_experts)]
    assert f"reaches {measure(*calls[0]):.2f} on average" in notes[0]


def test_moeviz_lm_layer_captions_and_the_failing_note_show_the_same_three_decimals():
    """The failing-line note names each layer's busiest ÷ mean load to three decimals: the moeviz-lm view's
    per-layer captions print the same value the same way, so the two numbers on screen agree."""
    at = open_page()
    assert not at.exception
    layers = [c.value for c in at.caption if c.value.startswith("Layer ") and "busiest ÷ mean load" in c.value]
    assert layers
    values = [c.split("busiest ÷ mean load ")[1].split(",")[0] for c in layers]
    assert all(len(v.split(".")[1]) == 3 for v in values), values
    note = next((i.value for i in at.info if "failing" in i.value), "")
    for layer, value in enumerate(values):
        if f"layer {layer} (" in note:
            assert f"layer {layer} ({value})" in note
