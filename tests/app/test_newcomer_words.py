"""The walkthrough (app.py) read by a newcomer from screenshots: each word is said where it is first met, each
switch says what it shows, and step 6's weighted sum can be checked with the numbers on the page."""
import re

import pytest

from moeviz.glossary import glossary_link
from tests.app import pages


def step_text(step: int, **params) -> tuple:
    at = pages.open_page("app.py", {"step": str(step), **params})
    assert not at.exception, [e.value for e in at.exception]
    return at, "\n".join(m.value for m in at.markdown)


def test_step_1_says_what_an_expert_is_where_it_first_says_the_word():
    """The header counts "8 experts" and the answer says "2 of 8 experts run"; only step 4 said what one is."""
    at, text = step_text(1)
    definition = text.index(f"{glossary_link('Expert', 'experts')}: small feed-forward networks (MLPs)")
    assert definition < text.index("completely different experts")
    assert any(glossary_link("Expert", "expert") in c.value and "feed-forward" in c.value for c in at.caption)


@pytest.mark.parametrize("capacity", [None, "1.25"])
def test_step_1_defines_a_token_copy_where_it_first_says_it(capacity):
    """Step 1 said "token copies" four steps before step 5 said what one is."""
    _, text = step_text(1, **({"capacity_factor": capacity} if capacity else {}))
    if capacity is None:  # the capacity-off note defines a token copy in its own short sentence
        assert text.index("A token copy is one token sent to one of its k chosen experts: tokens × k copies in all") < \
            text.index("copies")
        return
    first = text.index("token copies")
    assert text[first:].startswith("token copies (each one token sent to one of its k chosen experts: tokens × k copies in all)")


def test_step_4_names_d_hidden_and_says_swiglu_in_words():
    _, text = step_text(4)
    assert f"d_model × {glossary_link('d_model and d_hidden', 'd_hidden')}, where d_model = 64" in text
    assert "d_hidden = 64 the width inside one expert" in text
    assert text.index("d_hidden") > text.index("three 64 × 64 matrices")  # said where the 64s are
    assert f"{glossary_link('Feed-forward MLP', 'feed-forward MLP')}: two projections" in text
    assert "SiLU" in text and "as a gate" in text and "back down to d_model" in text


def test_the_misreading_switch_says_what_misreading_and_what_it_shows():
    at = pages.open_page("app.py")
    toggle = at.toggle(key="misreading")
    assert "ensemble" in toggle.help and "every expert contributing to every token" in toggle.help
    assert "three ways" in toggle.help
    assert any("ensemble" in c.value for c in at.caption)  # visible, not only on hover


def test_step_5_says_what_sets_the_pace_and_what_a_grouped_product_is():
    _, text = step_text(5)
    assert "Balance sets the pace" not in text  # read as the balance loss
    assert "how even the load is sets the pace here: E" in text
    assert "one batched kernel, a kernel being one program the GPU runs, so an idle expert costs little" in text


def test_the_random_vectors_option_says_what_it_replaces_and_why():
    at = pages.open_page("app.py")
    help_text = at.radio(key="source").help
    assert "seeded random vectors (the vector seed draws them) take the place of the hidden states" in help_text
    assert "layer with random weights" in help_text and "Pick them" in help_text


def test_the_trained_default_says_what_moving_n_does():
    at = pages.open_page("app.py")
    line = next(c.value for c in at.caption if c.value.startswith("**Moving N in the sidebar**"))
    assert ("N = 2–5 shows the 4-expert one; N = 6–12 shows the 8-expert one; N = 13–64 shows the 16-expert one"
            in line)
    at = pages.open_page("app.py", {"trained": "0"})  # the random layer: N builds it, nothing to explain
    assert not any("Moving N" in c.value for c in at.caption)


def test_n_note_follows_the_pickers_own_rule():
    """The line's ranges come from hf.shipped.nearest_olmoe itself, ties included (N = 6 and 12 go to 8)."""
    from moeviz.app.trained_source import TrainedPick
    from moeviz.app.walkthrough_page import n_note
    from moeviz.hf.shipped import nearest_olmoe, shipped_olmoe
    note = n_note(TrainedPick("olmoe-tiny", "", 0, 8))
    count_of = {folder.name: count for count, folder in shipped_olmoe().items()}
    for low, high, count in re.findall(r"N = (\d+)–(\d+) shows the (\d+)-expert one", note):
        for n in (int(low), int(high)):
            assert count_of[nearest_olmoe(n)[0]] == int(count)
    assert n_note(None) is None and n_note(TrainedPick("moeviz-lm", "", 0, 8)) is None


def test_step_3_says_who_makes_the_real_models_it_names():
    _, text = step_text(3)  # olmoe-tiny keeps its weights as they are: the sentence that names the models
    assert "OLMoE (from AI2, the Allen Institute for AI)" in text
    assert "Qwen2-MoE (from Alibaba's Qwen team)" in text and "Google's Switch Transformer" in text
    assert "Mixtral (from Mistral AI) renormalises" in text
    from moeviz.app.steps import _renormalised_note
    assert "Mistral AI" in _renormalised_note(1.0)


def test_step_6_works_the_weighted_sum_out_in_numbers():
    """The chart is pale on purpose (step 4's colour scale): the sum must be checkable with the page's numbers."""
    _, text = step_text(6)
    rows = re.findall(r"^- y\[(\d)\] = .+? = (.+) = \*\*(-?\d+\.\d+)\*\*$", text, re.M)
    assert [int(j) for j, _, _ in rows] == [0, 1, 2]
    for _, products, total in rows:
        terms = re.findall(r"(\d\.\d+) · \(?(-?\d+\.\d+)\)?", products)
        assert len(terms) == 2  # top-2: one term per running expert
        assert sum(float(w) * float(v) for w, v in terms) == pytest.approx(float(total), abs=0.01)


def test_step_2_formula_puts_its_result_on_a_second_line():
    """At 390 px the one-line softmax was cut before its result ("p₆ = … = 1.552/8.396 =")."""
    at, _ = step_text(2)
    formula = next(m.value for m in at.latex if "exp" in m.value)
    assert r"\begin{aligned}" in formula
    first, second = formula.split(r"\\")
    assert r"\sum_j" in first and re.search(r"&= \\frac\{\d+\.\d+\}\{\d+\.\d+\} = \d\.\d+", second)


# The newcomer's second read of the walkthrough (December 2026): each test fails on the page before it.

def test_step_6_worked_sum_adds_up_from_the_factors_it_shows():
    """Before: "y[2] = 0.18 · 0.121 + 0.16 · (−0.067) = 0.012", while the shown factors give 0.011: the weights
    were shown to 2 decimals, the sum made from the unrounded ones."""
    import re
    from moeviz.app.steps import worked_sum
    terms = [{"expert": 6, "weight": 0.1849, "output": [0.1212, -0.5, 0.3]},
             {"expert": 5, "weight": 0.1550, "output": [-0.0674, 0.25, 0.1]}]
    output = [sum(t["weight"] * t["output"][j] for t in terms) for j in range(3)]
    for line in worked_sum(terms, output).splitlines()[2:]:
        numbers = line.split(" = ")[2]
        shown = sum(float(w) * float(v.strip("()")) for w, v in re.findall(r"([\d.]+) · (\(?-?[\d.]+\)?)", numbers))
        result = float(re.search(r"\*\*(-?[\d.]+)\*\*", line).group(1))
        assert abs(shown - result) <= 0.0015, line
    assert "w6 · E6(x)[0]" in worked_sum(terms, output)


def test_step_words_the_second_read_missed():
    _, step2 = step_text(2)
    assert "[gating function](glossary#gate)" in step2
    _, step3 = step_text(3)
    assert "The kept scores become" not in step3 and "The kept experts' probabilities become" in step3
    at, _ = step_text(4)
    assert any("A run is one token computed by one expert" in c.value for c in at.caption)
    _, step5 = step_text(5)
    assert "[expert parallelism](glossary#expert-parallelism)" in step5 and "a kernel being one program" in step5
    assert " token copies where an even split gives" in step5 or " token copy where an even split gives" in step5


def test_the_load_bars_can_say_token_copies():
    import numpy as np
    from moeviz.figures.routing import expert_load_bars
    fig = expert_load_bars(np.array([3, 1]), unit="token copies")
    assert fig.layout.yaxis.title.text == "token copies" and fig.data[0].name == "token copies processed"
    assert expert_load_bars(np.array([3, 1])).layout.yaxis.title.text == "tokens"  # other pages unchanged


def test_step_1_says_how_n_acts_and_who_chose_alpha():
    """Before: "knobs that act here: N, …" beside "Moving N … does not rebuild this layer", and "α (it was trained
    once)", as if α were trained."""
    at, text = step_text(1)
    words = text + "\n".join(c.value for c in at.caption)
    assert "**Moving N in the sidebar** acts by switching models, not by rebuilding this layer" in words
    assert "α (the model was trained once, with its own α" in words and "α (it was trained once" not in words


def test_the_model_line_says_what_olmoe_and_transformers_are():
    """Before: "(transformers' OlmoeForCausalLM)" and "tensors" in the walkthrough's first lines, unexplained."""
    at, _ = step_text(1)
    intro = next(c.value for c in at.caption if c.value.startswith("A small language model, trained here"))
    assert "OLMoE: an open MoE language model" in intro and "transformers, Hugging Face's model library" in intro
    assert "tensors" not in intro


def test_the_tokens_note_says_pieces_are_routed_and_the_toggles_say_why():
    """Before: the default sentence says "each word" while the router routes pieces; the untrained-router switch
    and ‖x‖ said nothing on screen about why they are there."""
    at, _ = step_text(1)
    assert any("the router routes each piece on its own" in c.value for c in at.caption)
    assert any(c.value.startswith("‖x‖ is the vector's length") for c in at.caption)
    at, _ = step_text(2)
    assert any(c.value.startswith("Why: to see what training taught the router") for c in at.caption)


def test_a_token_copy_is_said_in_one_wording_on_every_step():
    """Third read: step 1's note, step 1's capacity sentence and step 5 each said what a token copy is in their
    own words."""
    from moeviz.app.steps import TOKEN_COPY
    texts = [step_text(1)[1], step_text(1, capacity_factor="1.25")[1], step_text(5)[1]]
    assert all(TOKEN_COPY in text for text in texts)
    assert all("one per token and chosen expert" not in text for text in texts)


def test_step_5s_heatmap_colours_run_up_to_its_largest_probability():
    """Third read: on a fixed 0..1 colour scale step 5's chosen cells (0.2-0.5) looked pale."""
    import json
    from tests.helpers import plotly_values
    at, _ = step_text(5)
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    heat = next(t for spec in specs for t in spec["data"] if t.get("type") == "heatmap")
    largest = float(plotly_values(heat["z"]).max())
    assert largest < 1 and heat["zmax"] == pytest.approx(largest) and heat["zmin"] == 0
    assert heat["colorbar"]["title"]["text"] == f"prob (0 to {largest:.2f}, the largest here)"


@pytest.mark.parametrize("params", [{}, {"trained": "0"}])
def test_step_4_shows_the_way_through_one_expert_with_the_layers_shapes(params):
    """Third read: step 4 described the inside of an expert in a sentence only. The table's stages hold the
    layer's own weights per expert and end at the size of the experts' real outputs."""
    from moeviz.walkthrough import expert_path
    at, _ = step_text(4, **params)
    frame = next(d.value for d in at.dataframe if list(d.value.columns) == ["stage", "matrix", "weights",
                                                                           "numbers out"])
    line = next(c.value for c in at.caption if c.value.startswith("Layer on this page:"))
    d_model, d_hidden, n = (int(re.search(p, line).group(1)) for p in (r"d_model (\d+)", r"d_hidden (\d+)",
                                                                       r"N = (\d+) experts"))
    total = int(re.search(r"· ([\d,]+) parameters", line).group(1).replace(",", ""))
    assert int(frame["weights"].sum()) * n + d_model * n == total  # the experts and the router: the line's count
    assert int(frame["numbers out"].iloc[-1]) == d_model and d_hidden in set(frame["numbers out"])
    assert any(f"{int(frame['weights'].sum()):,} weights in all" in c.value for c in at.caption)
    for m in (2, 3):  # both forms add up
        rows = expert_path({"matrices_per_expert": m, "params_per_expert": m * 8 * 12, "d_hidden": 12}, 8)
        assert sum(r["weights"] for r in rows) == m * 8 * 12 and rows[-1]["numbers out"] == 8


def test_the_fourth_reads_words_on_the_walkthrough():
    """Fourth read (screenshots, December 2026): step 6's formula rounded 0.1849 to 0.18 while its worked sum used
    0.185; "projected up" where d_hidden = d_model; E0…E7 and Eᵢ(x) never named; "router probabilities" with no
    word on whether top-k had run; what a dropped copy does; "dense layer" for every expert; step 5 speaks of
    time it does not show; "causal LM" unexplained."""
    _, one = step_text(1)
    assert "a dropped copy skips that expert, the token keeps its other experts" in one
    assert "C = ceil(factor · tokens · k / N)" in one
    at2, two = step_text(2)
    assert "E0…E7 name the 8 experts, counting from 0." in two
    at6, six = step_text(6)
    latex = next(e.value for e in at6.get("latex"))
    shown = re.findall(r"(\d\.\d+)\\cdot", latex)
    assert shown and all(len(w.split(".")[1]) == 3 for w in shown)
    assert any("Eᵢ(x) is expert i's output for this token x" in c.value for c in at6.caption)
    at4, four = step_text(4)
    frame = next(d.value for d in at4.dataframe if "stage" in d.value.columns)
    assert not any("projected up" in s for s in frame["stage"]) and "projections of the token up" not in four
    assert not any("dense layer (every expert)" in c.value for c in at4.caption)
    _, five = step_text(5)
    assert "the Capacity & parallelism page times it" in five
    assert "a causal language model, one that predicts each next token" in " ".join(c.value for c in at2.caption)
