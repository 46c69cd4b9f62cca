"""/variants as a newcomer reads it: the sigmoid heatmap says why its outlines skip dark cells and calls its colour
a score; the bias slider, the noise scale, the capacity sentence and the tables are said in words; the heatmaps
pair up row by row (a phone keeps each pair together)."""
import json
import re

import pytest
import torch

from moeviz.app.tables import MAX_ROWS_SHOWN, all_rows_height
from moeviz.app.variants_text import sigmoid_note
from moeviz.figures.variants import variant_heatmaps
from moeviz.hf.shipped import variants_on_logits
from moeviz.variants import VARIANTS, bias_moved_picks
from tests.app import pages

PAGE = "pages/5_variants.py"


@pytest.fixture(scope="module")
def at():
    page = pages.open_page(PAGE, {}, timeout=120)
    assert not page.exception, [e.value for e in page.exception]
    return page


def captions(at) -> str:
    return " | ".join(c.value for c in at.caption)


def heatmap_bars(at) -> dict:
    """Each router heatmap's colour bar title, by its trace name."""
    bars = {}
    for chart in at.get("plotly_chart"):
        data = json.loads(chart.proto.spec)["data"][0]
        if data.get("type") == "heatmap" and data.get("name") != "experts per token":
            bars[data["name"]] = data["colorbar"]["title"]["text"]
    return bars


def test_the_sigmoid_heatmap_says_the_bias_moves_the_pick_and_its_colour_is_a_score(at):
    assert heatmap_bars(at) == {"router probability": "prob", "sigmoid score (without the bias)": "score"}
    text = captions(at)
    assert "**Sigmoid + selection bias**: the outlines are not always the darkest cells" in text
    assert "the colour shows the score without the bias" in text and "after 20 updates (E0 " in text


def test_the_bias_moves_picks_only_under_the_sigmoid_rule():
    logits = torch.randn(20, 8, generator=torch.Generator().manual_seed(0))
    runs = variants_on_logits(logits, 2, None, 20)
    moved = {run.variant.key: bias_moved_picks(run) for run in runs}
    assert moved["sigmoid_bias"] > 0 and all(n == 0 for key, n in moved.items() if key != "sigmoid_bias")
    assert bias_moved_picks(variants_on_logits(logits, 2, None, 0)[3]) == 0
    figs = variant_heatmaps(runs, [str(t) for t in range(20)])
    assert [f.data[0].colorbar.title.text for f in figs] == ["score" if v.key == "sigmoid_bias" else "prob"
                                                             for v in VARIANTS]
    assert "E1 −0.12" in sigmoid_note(20, 3, 20, [0.16, -0.12])
    assert "no bias update yet" in sigmoid_note(0, 0, 20, [0.0, 0.0])


def test_the_bias_slider_says_what_an_update_is_and_what_it_changes(at):
    slider = at.slider(key="bias_steps")
    assert slider.help.startswith("A bias update is one step of DeepSeek-V3's balancing")
    assert "counts the tokens each expert got" in slider.help and "0.001" in slider.help
    assert "**20 bias updates** for the “sigmoid + selection bias” rule" in captions(at)
    assert "its row of load bars and the outlines of its heatmap" in captions(at)


def test_the_noise_scale_is_worked_out(at):
    text = captions(at)
    assert "noise weights still at zero" not in text
    assert "softplus(noise weights · x) + 0.01" in text and "softplus(0) + 0.01 = ln 2 + 0.01 ≈ 0.70" in text


def test_the_capacity_sentence_names_the_two_rows_with_their_own(at):
    first = at.caption[0].value
    assert "MoE1D" not in first
    assert ("The sidebar's capacity factor is off (no limit), but two rows always have a capacity of their own: "
            "Switch uses 1.25") in first and "expert choice uses 1." in first
    assert "Capacity factor 0.5 for every row." in pages.open_page(PAGE, {"capacity_factor": "0.5"},
                                                                   timeout=120).caption[0].value


def test_the_tables_are_explained_and_show_every_row(at):
    text = captions(at)
    assert "as fewest–most (2–2: every token got 2; 0–1:" in text
    assert "**none**: how many tokens got no expert" in text
    changes = at.dataframe[1]
    assert json.loads(changes.proto.columns)["token"]["label"] == "position"
    assert f"({len(changes.value)} rows, one per rule and token)" in text and "counting from 0" in text
    assert len(changes.value) <= MAX_ROWS_SHOWN and all_rows_height(len(changes.value)) == "content"


def test_words_of_the_rules_notes_are_explained(at):
    notes = " ".join(m.value for m in at.markdown)
    assert "(residual only)" not in notes and "in a decoder the choice looks at future tokens" not in notes
    assert "auxiliary loss (the extra training loss" in notes
    text = captions(at)
    assert "an **auxiliary loss** is an extra term added to the training loss" in text
    assert "(glossary#load-balancing-loss)" in text and "(glossary#residual-path)" in text
    assert "= 64 is the width inside each expert, an [MLP](glossary#" in text


def test_heatmaps_pair_up_row_by_row(at):
    """On a phone st.columns stack: with one pair of columns for all seven charts, "not renormalised" sat three
    charts below its renormalised twin. One row of columns per pair keeps each pair together."""
    per_column = [len(c.get("plotly_chart")) for c in at.columns]
    assert max(per_column) == 1 and sum(per_column) == len(VARIANTS)


def test_the_second_reads_words_on_variants(at):
    """The second newcomer read (December 2026): one name for the rules, the layer said as the one picked, the
    noise's own seed and why a noisy pick can sit on a pale cell, gradient said in words."""
    text = captions(at)
    assert "gating rule" not in text and "Every router rule below gets the same router scores" in text
    assert "same tokens and layer as the walkthrough" not in text
    # a third read found "the walkthrough's tokens, and its layer 0 when you pick that layer there" garbled: the
    # box below is named as the walkthrough's own, with its tokens
    assert "for the sentence in the box below (the walkthrough's box: the same text, the same tokens)" in text
    assert "The noise draws have their own fixed seed, apart from the sidebar's layer-weight seed" in text
    assert "a pick can sit on a pale cell: a weak second choice" in text
    assert "and so gradient," not in text and "a training signal (gradient)" in text


def test_the_three_same_choice_rules_show_their_weights(at):
    """Before: "they differ only in the combine weights", and no weight was on the page. Now one token's weights
    under each of the three rules, read from the rules' own traces."""
    from moeviz.app.variants_text import SAME_CHOICE
    text = captions(at)
    said = text[text.index("The weights themselves, for the token"):]
    sums = re.findall(r"= (\d\.\d{3})", said.split(". The same experts")[0])
    assert len(sums) == len(SAME_CHOICE)
    assert sums[0] == sums[2] == "1.000" and float(sums[1]) < 1  # renormalised, raw, top-k → softmax
