"""The walkthrough page (app.py) under AppTest: steps, token choice, link values good and bad."""
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from moeviz.app.style import APP_CSS
from moeviz.config import ROUTERS
from moeviz.hf.shipped import sentence_tokens
from tests.helpers import agree, plotly_values
from moeviz.text import DEFAULT_SENTENCE
from moeviz.walkthrough import STEP_NAMES

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def run_app(**link) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    for key, value in link.items():
        at.query_params[key] = value
    return at.run()


def page_text(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def shown_step(at) -> int:
    return int(re.search(r"Step (\d) / 6", page_text(at)).group(1))


def answer_experts(at) -> tuple[int, int]:
    found = re.search(r"\*\*(\d+) of (\d+) experts run\*\*", page_text(at))
    return int(found.group(1)), int(found.group(2))


def trained_labels(text: str) -> tuple[str, ...]:
    """The tokens every layer of the walkthrough routes: olmoe-tiny's own subwords."""
    return tuple(sentence_tokens(text))


def combine_check_words(at) -> str:
    """Step 6's check, in its box: "Sum of terms vs layer output: **exactly equal**" -> "exactly equal"."""
    found = re.search(r"^Sum of terms vs layer output: \*\*(.+)\*\*$", page_text(at), re.M)
    return found.group(1)


def test_runs_and_answers_the_question():
    at = run_app()
    assert not at.exception and not at.warning
    assert "Which experts actually run for this token" in page_text(at)
    assert answer_experts(at) == (2, 8)
    assert shown_step(at) == 1


def test_moving_k_and_experts_changes_the_shown_experts():
    at = run_app()
    at.slider(key="top_k").set_value(3).run()
    assert answer_experts(at) == (3, 8)
    at.slider(key="num_experts").set_value(16).run()
    assert answer_experts(at) == (3, 16)
    at.segmented_control(key="step").set_value(4).run()
    assert "3 of 16" in " ".join(m.value for m in at.metric)  # the live counter of expert runs


def test_next_and_prev_reach_all_six_steps():
    at = run_app()
    seen = [shown_step(at)]
    for _ in range(5):
        at.button(key="next_step").click().run()
        assert not at.exception
        seen.append(shown_step(at))
        assert at.query_params["step"] == str(seen[-1])
    assert seen == [1, 2, 3, 4, 5, 6]
    assert at.button(key="next_step").disabled
    for expected in (5, 4, 3, 2, 1):
        at.button(key="prev_step").click().run()
        assert shown_step(at) == expected
    assert at.button(key="prev_step").disabled


def test_the_row_of_step_names_jumps_directly():
    at = run_app()
    assert at.segmented_control(key="step").options == [f"{i} · {name}" for i, name in enumerate(STEP_NAMES, 1)]
    at.segmented_control(key="step").set_value(5).run()
    assert shown_step(at) == 5 and at.query_params["step"] == "5"
    assert len(at.get("plotly_chart")) >= 2  # the heatmap and the load bars


def test_a_link_opens_a_step_and_a_token():
    at = run_app(step="3", token="1", text="Cats chase mice.")
    assert not at.exception and not at.warning
    assert shown_step(at) == 3
    assert f"“{trained_labels('Cats chase mice.')[1]}” (token 1)" in page_text(at)
    at = run_app(step="3", token="1", text="Cats chase mice.", trained="0", model="olmoe-tiny")
    assert f"“{trained_labels('Cats chase mice.')[1]}” (token 1)" in page_text(at)  # the same tokens


@pytest.mark.parametrize("link", [
    {"step": "abc"}, {"step": "9"}, {"token": "-1"}, {"text": "   "}, {"source": "bogus"}, {"misreading": "maybe"},
    {"vector_seed": "1e9"},
])
def test_hostile_page_values_warn_and_fall_back(link):
    at = run_app(**link)
    assert not at.exception
    assert len(at.warning) == 1 and f"`{next(iter(link))}`" in at.warning[0].value
    assert shown_step(at) == 1
    assert answer_experts(at) == (2, 8)


def test_token_past_the_end_of_the_sentence_picks_the_last_one():
    at = run_app(text="One two", token="40")
    assert not at.exception
    labels = trained_labels("One two")
    assert f"“{labels[-1]}” (token {len(labels) - 1})" in page_text(at)


def test_user_text_is_never_markup():
    hostile = "<img src=x onerror=alert(1)> [link](http://evil) :red[big] $x$"
    at = run_app(text=hostile)
    assert not at.exception
    # nothing is rendered as raw HTML but the app's own fixed stylesheet
    assert [block.proto.body for block in at.get("html")] == [f"<style>{APP_CSS}</style>"]
    options = at.button_group(key="token").options
    assert all("](" not in option and "<img" not in option for option in options)


def test_picking_another_token_updates_the_answer_but_not_the_step():
    at = run_app(step="2")
    tokens = trained_labels(DEFAULT_SENTENCE)
    at.button_group(key="token").set_value(3).run()
    assert f"“{tokens[3]}” (token 3)" in page_text(at)
    assert shown_step(at) == 2 and at.query_params["token"] == "3"


def test_random_vectors_as_tokens():
    at = run_app()
    at.radio(key="source").set_value("random").run()
    assert not at.exception
    assert "“v0” (token 0)" in page_text(at)
    at.number_input(key="vector_seed").set_value(5).run()
    assert at.query_params["vector_seed"] == "5" and at.query_params["source"] == "random"


def test_an_empty_sentence_falls_back_to_the_example():
    at = run_app()
    at.text_input(key="text").set_value("  ...  ").run()  # punctuation only still routes
    assert not at.exception and not at.warning
    at.text_input(key="text").set_value("     ").run()
    assert not at.exception and len(at.warning) == 1


def test_misreading_toggle_shows_dense_and_all_vote_numbers():
    at = run_app()
    at.toggle(key="misreading").set_value(True).run()
    labels = [m.label for m in at.metric]
    assert "Dense, masked vs sparse output" in labels and "All experts vote by probability" in labels
    assert at.query_params["misreading"] == "1"
    dense = next(m for m in at.metric if m.label == "Dense, masked vs sparse output")
    assert agree(dense.value, places=5)  # the same output as the sparse layer, said in words


def test_numbers_a_student_reads_are_words_and_plain_decimals():
    at = run_app(step="6")
    check = combine_check_words(at)
    assert agree(check, places=5) and "e-" not in check  # was "9.2e-09"
    at = run_app(step="2")
    formula = " ".join(e.body for e in at.latex)
    assert r"\exp(" in formula and "e^{" not in formula  # no raised exponent to be clipped


@pytest.mark.parametrize("router", ROUTERS)
def test_every_step_runs_for_every_router(router):
    at = run_app(router=router, capacity_factor="1", misreading="1", trained="0")  # the sidebar's router: random layer
    for step in range(1, 7):
        at.segmented_control(key="step").set_value(step).run()
        assert not at.exception, (router, step, [e.value for e in at.exception])
        assert not at.warning


def test_the_default_layer_is_the_trained_model_and_trained_0_keeps_the_random_one():
    at = run_app()
    assert at.toggle(key="trained").value
    assert any("olmoe-tiny (8 experts): a tiny model with OLMoE's architecture" in c.value for c in at.caption)
    assert at.query_params["trained"] == "1"
    at = run_app(trained="0")  # a link made before the default changed still shows the random layer
    assert not at.toggle(key="trained").value
    assert any("random weights" in c.value for c in at.caption)
    assert f"“{trained_labels(DEFAULT_SENTENCE)[0]}” (token 0)" in page_text(at)  # the same tokens


def test_step_2_puts_the_untrained_router_beside_the_trained_one():
    at = run_app(step="2")
    at.toggle(key="untrained").set_value(True).run()
    assert not at.exception
    table = at.dataframe[-1].value
    assert list(table["router"]) == ["trained", "untrained"]
    assert at.query_params["untrained"] == "1"
    at = run_app(step="2", trained="0")  # the random layer's router is the untrained one: no switch, a sentence
    assert not at.exception
    assert not [t for t in at.toggle if t.key == "untrained"]
    assert any("it is an untrained router" in c.value for c in at.caption)


def _charts(at):
    """(title, Plotly JSON spec) of every chart the page drew."""
    import json
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        yield (spec["layout"].get("title") or {}).get("text") or "", spec


def _heatmap_ranges(at) -> dict:
    """title -> (zmin, zmax) of every heatmap the page drew."""
    ranges = {}
    for title, spec in _charts(at):
        for trace in spec["data"]:
            if trace.get("type") == "heatmap" and "zmax" in trace:
                ranges[title] = (trace["zmin"], trace["zmax"])
    return ranges


def test_steps_4_and_6_colour_the_same_expert_outputs_alike():
    from moeviz.app.steps import EXPERT_OUTPUTS_TITLE
    step4 = _heatmap_ranges(run_app(step="4", token="2"))[EXPERT_OUTPUTS_TITLE]
    step6 = _heatmap_ranges(run_app(step="6", token="2"))["The weighted sum, term by term"]
    assert step4 == step6 and step4[0] == -step4[1] > -1e9


def test_the_combine_check_caption_names_what_the_box_shows():
    """Step 6's caption promised "the number" while the box shows words: it must name the words shown."""
    at = run_app(step="6")
    check = combine_check_words(at)
    shown_form = re.sub(r"\d+", "n", check)  # "match to 7 decimal places" -> "match to n decimal places"
    assert shown_form in " ".join(c.value for c in at.caption), check


@pytest.mark.parametrize("capacity", ["off", "1"])
def test_step_1_promises_about_the_batch_only_what_step_5_shows(capacity):
    at = run_app(step="1", capacity_factor=capacity)
    promise = "step 5 shows the token copies (each one token sent to one of its k chosen experts: tokens × k copies " \
              "in all) that found their expert full"
    assert (promise in page_text(at)) == (capacity != "off")
    at.segmented_control(key="step").set_value(5).run()
    dropped_line = [c.value for c in at.caption if "found their expert's slots full" in c.value]
    assert bool(dropped_line) == (capacity != "off")  # step 5 says how many copies the limit dropped


def _call_step_callback_without_state():
    import streamlit as st

    from moeviz.app.walkthrough_page import _step_picked
    st.session_state.pop("step", None)
    _step_picked()
    st.write("callback returned")


def test_the_step_callback_survives_a_forgotten_step():
    """Opening a lesson's or the teacher's view forgets the step's state, and a late run request from the old
    page then calls the step's callback with none (a following student's page died of the KeyError)."""
    at = AppTest.from_function(_call_step_callback_without_state).run()
    assert not at.exception
    assert at.markdown[0].value == "callback returned"


def test_step_5_does_not_quote_the_sidebars_alpha_where_it_does_not_act():
    """The sidebar marks α as not acting on the walkthrough; step 5 used to print α·loss with the sidebar's α."""
    at = run_app(step="5", balance_weight="0.37")
    assert not at.exception
    captions = "\n".join(c.value for c in at.caption)
    assert "sidebar's α does not act here" in captions and "0.37" not in captions


def test_step_1_says_other_pages_use_other_sizes_and_names_the_residual_path():
    """"64 numbers" is this layer's width only: step 1 says other pages use other sizes (named by each page's
    layer line), and it explains the diagram's residual lines and "+" where the learner meets them."""
    at = run_app(step="1")
    text = page_text(at)
    width = re.search(r"\*\*(\d+) numbers\*\*", text).group(1)
    line = next(c.value for c in at.caption if c.value.startswith("Layer on this page:"))
    assert f"d_model {width} ·" in line and f"vector of d_model = {width} numbers" in line
    assert "other pages use layers of other sizes, and the layer line at the top of each page says which" in text
    assert "](glossary#residual-path)" in text and "“+”" in text


# Code identifiers a learner should not meet as visible text: snake_case names (W_router, norm_topk_prob, ...).
# d_model and d_hidden are the field's own names, defined in the glossary and in the layer line's words.
SNAKE = re.compile(r"(?<![\\$\w])[A-Za-z]+_[A-Za-z_]+\b")
ALLOWED = {"d_model", "d_hidden"}


@pytest.mark.slow
def test_no_code_identifiers_in_any_step_at_the_default():
    """Every step's visible text (markdown, captions, metrics; the misreading and the untrained router shown)
    at the default model: no snake_case code name besides d_model / d_hidden (LaTeX is maths, not code)."""
    for step in range(1, 7):
        at = run_app(step=str(step), misreading="1", untrained="1")
        assert not at.exception
        main = [m.value for m in at.main.markdown] + [c.value for c in at.main.caption]
        main += [f"{m.label} {m.value}" for m in at.main.metric]
        found = {name for value in main for name in SNAKE.findall(re.sub(r"\$[^$]*\$|\(glossary#[^)]*\)", "", value))}
        assert found <= ALLOWED, (step, found - ALLOWED)


def test_step_1_explains_its_notations_where_they_appear():
    """"#0 of 21", "(64,)" and "‖x‖" are notations a newcomer had not met: each of step 1's numbers says what it is."""
    at = run_app(step="1")
    metrics = {m.label: m for m in at.main.metric}
    assert "counted from 0" in metrics["Token"].help and "vector of 64 numbers" in metrics["Shape"].help
    assert "square root" in metrics["Length ‖x‖"].help
    # and on the screen, not only in a tooltip a screenshot never shows
    captions = " ".join(c.value for c in at.main.caption)
    assert "Counted from 0, as code counts: #0 is the first of" in captions
    assert "One vector of 64 numbers, as PyTorch writes a shape." in captions


def test_the_models_count_and_the_layers_count_say_which_is_which():
    """The header said "527,424 parameters" and the layer line "98,816 parameters" with nothing to tell them
    apart: the model's count is named as the whole model's, the layer line's stays the layer's."""
    at = run_app()
    model = re.search(r"([\d,]+) parameters in the whole model", " ".join(c.value for c in at.caption))
    line = next(c.value for c in at.caption if c.value.startswith("Layer on this page:"))
    layer = re.search(r"· ([\d,]+) parameters \(", line)
    assert model and layer and int(model.group(1).replace(",", "")) > int(layer.group(1).replace(",", ""))


def test_the_answer_box_says_when_the_weights_do_not_add_up_to_one():
    """The default model (olmoe-tiny) keeps its raw probabilities: a newcomer read "weight 0.18 and 0.16" before
    step 3 and took it for a mistake. The box now gives their sum, read from the same weights it shows."""
    at = run_app()
    text = page_text(at)
    weights = [float(w) for w in re.findall(r"\(weight (\d\.\d\d\d)\)", text)]
    found = re.search(r"these add up to (\d\.\d\d\d), not 1 \(step 3 says why\)", text)
    assert len(weights) == 2 and found
    assert abs(float(found.group(1)) - sum(weights)) <= 0.0011  # each weight shown to 3 decimals, as step 6
    renormalised = run_app(trained="0", router="softmax_topk")  # the random layer renormalises: no such remark
    assert "add up to" not in page_text(renormalised)


def test_the_subword_note_comes_before_the_token_pills():
    """The pills show "␣r", "ou", "ter": the note that says what ␣ and the pieces are now comes first."""
    at = run_app()

    def walk(node, out):
        for child in getattr(node, "children", {}).values():
            out.append(child)
            walk(child, out)
        return out
    elements = walk(at.main, [])
    note = next(i for i, e in enumerate(elements) if type(e).__name__ == "Caption" and "subword" in e.value)
    pills = next(i for i, e in enumerate(elements) if getattr(e, "key", None) == "token")
    assert note < pills
    assert any("A small language model, trained here, reads your sentence" in c.value for c in at.caption)


def _probability_axes(at) -> dict:
    """title -> y-axis range of every probability bar chart the page drew."""
    axes = {}
    for title, spec in _charts(at):
        if title.startswith("Router probabilities"):
            bars = [float(plotly_values(t["y"]).max()) for t in spec["data"] if t.get("type") == "bar"]
            axes[title] = (tuple(spec["layout"]["yaxis"]["range"]), max(bars))
    return axes


def test_step_2_probability_bars_fill_their_axis():
    """A 0…1 axis squashed the trained router's 0.05–0.2 probabilities into the bottom fifth of the chart; the
    axis now ends just above the tallest bar, shared by the trained/untrained pair."""
    at = run_app(step="2", token="2")
    at.toggle(key="untrained").set_value(True).run()
    axes = _probability_axes(at)
    assert len(axes) == 3, axes
    for (low, top), tallest in axes.values():
        assert low == 0 and tallest < top <= 1
    pair = {title: v for title, v in axes.items() if ", " in title}
    assert len(pair) == 2 and len({rng for rng, _ in pair.values()}) == 1
    for charts in (pair, {t: v for t, v in axes.items() if t not in pair}):
        (_, top), = {rng for rng, _ in charts.values()}
        assert max(tallest for _, tallest in charts.values()) / top >= 0.75 or top == 1


def _said(at) -> str:
    return " ".join(m.value for m in [*at.markdown, *at.caption])


def test_the_newcomers_questions_are_answered_where_they_arise():
    """A newcomer read steps 3, 5 and 6 and asked: is a weight sum of 0.34 a problem? which holds on this page,
    'the busiest expert sets the pace' or 'imbalance matters much less'? where does y go after the sum? why are
    step 6's terms so pale?"""
    step3 = _said(run_app(step="3", token="0"))
    assert "not 1" in step3 and "That is not a loss: the model was trained with these weights" in step3
    step5 = _said(run_app(step="5", token="0"))
    assert "**Each expert on its own GPU**" in step5 and "**All experts on one GPU**" in step5
    assert "matters much less" not in step5 and "glossary#load-balancing-loss" in step5
    step6 = _said(run_app(step="6", token="0"))
    assert "[residual path](glossary#residual-path) adds it to the vector the token brought into the layer" in step6
    assert "paler than in step 4, by exactly that factor" in step6


def test_step_5_keeps_step_1s_promise_and_defines_the_balance_loss():
    """Step 1 promised that step 5 shows dropped copies once a capacity factor is set; with it off step 5 said
    nothing about capacity. fᵢ and Pᵢ were only in the metric's tooltip."""
    off = _said(run_app(step="5", token="0"))
    assert "Capacity factor off: every expert takes all the copies sent to it, so none is dropped" in off
    assert "fᵢ: the share of the token copies sent to expert i" in off
    on = _said(run_app(step="5", token="0", capacity_factor="1"))
    assert "Capacity factor off" not in on and "were dropped" in on


def test_step_4_says_how_many_weights_an_expert_holds():
    from moeviz.costs import layer_costs
    said = _said(run_app(step="4", token="0"))
    costs = layer_costs(64, 64, 8, 2, "swiglu", False)
    assert f"Each expert holds {costs['params_per_expert']:,} weights (three 64 × 64 matrices" in said
    assert f"The router adds {64 * 8:,} (64 × 8)" in said
