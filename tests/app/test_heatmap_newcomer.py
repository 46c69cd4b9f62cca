"""/heatmap as a newcomer reads it (olmoe-tiny on the default text): every table row the bars count is shown, the
what-if's drop policy and capacity are said in words, and no sentence leans on a word the page never explains."""
import re

import pytest

from moeviz.app.checkpoint_views import MAX_ROWS_SHOWN, all_rows_height, capacity_formula, expert_tokens_caption
from moeviz.app.heatmap_text import family_rule_note
from moeviz.app.parallel_page import POLICY_CAPTIONS, POLICY_LABELS
from tests.app import pages

PAGE = "pages/1_heatmap.py"


@pytest.fixture(scope="module")
def at():
    page = pages.open_page(PAGE, {"layer": "0", "expert": "3"})
    assert not page.exception, [e.value for e in page.exception]
    return page


def captions(at) -> str:
    return " | ".join(c.value.replace("\\", "") for c in at.main.caption)


def test_the_expert_table_holds_every_token_the_bars_count(at):
    """The bars said E3 handled 12 tokens at layer 0; the table under them listed 8, with no hint of more."""
    match = re.search(r"All (\d+) tokens that ran on E3", captions(at))
    counts = [int(match.group(1))] if match else []
    frame = next(d.value for d in at.dataframe if list(d.value.columns) == ["position", "token", "probability"])
    assert counts and len(frame) == counts[0] > 8
    assert "counting from 0" in captions(at)


def test_a_table_of_the_experts_tokens_shows_all_its_rows_or_says_to_scroll():
    assert all_rows_height(12) == "content" and all_rows_height(MAX_ROWS_SHOWN) == "content"
    assert all_rows_height(MAX_ROWS_SHOWN + 1) == "auto"
    assert "scroll inside it for all 90" in expert_tokens_caption(3, 90)
    assert "scroll" not in expert_tokens_caption(3, 12)
    assert expert_tokens_caption(3, 0) == "No token of this text ran on E3 at this layer."


def test_the_drop_policy_is_named_and_explained(at):
    box = at.selectbox(key="whatif_drop")
    assert box.value == "position" and box.format_func("position") == POLICY_LABELS["position"]
    assert POLICY_CAPTIONS["position"] in captions(at)


def test_the_what_if_capacity_shows_its_formula_with_the_numbers(at):
    assert ("C = ceil(cf · T · k / N) = ceil(1 · 33 · 2 / 8) = 9 slots per expert (cf = the capacity factor, "
            "T = 33 tokens, the text, k = 2 experts each token picks, N = 8 experts; ceil rounds up)") in captions(at)
    assert capacity_formula(1.25, 10, 1, 4, 4).startswith("C = ceil(cf · T · k / N) = ceil(1.25 · 10 · 1 / 4) = 4")


def test_the_models_rule_is_named_and_renormalising_said_in_words(at):
    text = captions(at)
    assert "family's own rule" not in text
    assert "routing rule of its model family, OLMoE: softmax → top-k" in text
    assert "not renormalised: they are used as they are, so they sum to less than 1" in text
    assert "(glossary#" in family_rule_note({"family": "OLMoE (AI2)", "rule": "softmax → top-k"})


def test_dense_layers_and_the_walkthroughs_model_are_said_plainly(at):
    text = captions(at)
    assert "(4 MoE, 0 dense) · " in text and "A dense layer has one ordinary MLP where a MoE layer has its experts" in text
    assert "shows the one nearest the sidebar's N" not in text
    assert "the sidebar's N picks the olmoe-tiny with the nearest number of experts" in text


def test_smoothed_lift_says_what_smoothing(at):
    assert "one extra, imaginary occurrence sent here at the base rate" in captions(at)


def test_a_trace_file_is_explained_before_the_upload(at):
    first = at.main.caption[0].value
    assert first.startswith("A trace file is a JSON file that records one routed text")


def test_the_second_reads_words_on_heatmap(at):
    """The second newcomer read (December 2026): GShard and Switch named on the drop policy, what happens to a
    token whose copy is dropped, capacity factor linked where first met, top-1 entropy defined, one notation ln N."""
    text = captions(at)
    # GShard and Switch are named on the drop policy, and now (third read, V-MoE left dangling) explained on the
    # glossary card every page links
    assert "GShard, Switch, V-MoE and Megatron-Core: [MoE papers and libraries](glossary#moe-papers-and-libraries)" in text
    assert "only the dropped column fills; pick another rule above to fill the other two" in text
    assert "([top-k](glossary#top-k): the k with the highest scores)" in text
    assert "the token keeps its other experts, and one that lost them all is carried on by the [residual path]" in text
    assert "own [capacity factor](glossary#capacity-factor))" in text
    assert "top-1 entropy (the entropy of how often each expert is a token's first choice)" in text
    frames = [list(d.value.columns) for d in at.dataframe]
    assert any("mutual information" in cols and "ceiling ln N" in cols for cols in frames), frames


def test_the_smoothed_lift_is_worked_out_on_the_tables_top_row(at):
    """The third read: "smoothed" was explained in words only. The worked example uses the top row's own counts and
    lands on the lift the table shows."""
    frame = next(d.value for d in at.dataframe if "lift" in d.value.columns and "in text" in d.value.columns)
    top = frame.iloc[0]
    match = re.search(r"Worked out for the top row, “(.+?)”: seen (\d+) times, (\d+) of them sent here; E3's base "
                      r"rate is (\d+)/(\d+) = [\d.]+\. .* the lift is [\d.]+ ÷ [\d.]+ = ([\d.]+)\.", captions(at))
    assert match, captions(at)
    assert (int(match.group(2)), int(match.group(3))) == (top["in text"], top["to this expert"])
    ran, tokens = int(match.group(4)), int(match.group(5))
    base = ran / tokens
    assert float(match.group(6)) == pytest.approx(top["lift"], abs=0.006)
    assert float(match.group(6)) == pytest.approx(((top["to this expert"] + base) / (top["in text"] + 1)) / base, abs=0.006)
