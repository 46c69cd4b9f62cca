"""Variant comparison figures, tested on fig.data against the runs they draw."""
import re
from pathlib import Path

import numpy as np
import pytest

from moeviz.figures import PROB_RANGE
from moeviz.figures.routing import EXPERT_PICKED, router_heatmap
from moeviz.figures.variants import (LOAD_MARKS, SCORE_NAME, TICK_ANGLES, TICK_LINE, TICK_LINES, TICK_SIZE,
                                     TITLE_SIZE,
                                     experts_per_token_figure, load_comparison, tick_text, variant_heatmaps)
from moeviz.variants import VARIANTS, run_variants
from tests.helpers import tokens

LABELS = ["<script>alert(1)</script>", "b", "c", "d", "e", "f", "g", "h"]


@pytest.fixture(scope="module")
def runs():
    return run_variants(tokens(8, 12, seed=2), num_experts=4, top_k=2, seed=5, capacity_factor=0.75)


def by_name(fig, name):
    return next(trace for trace in fig.data if trace.name == name)


def test_heatmaps_share_one_colour_scale_and_show_the_probs(runs):
    figs = variant_heatmaps(runs, LABELS)
    assert len(figs) == len(runs)
    for fig, run in zip(figs, runs):
        # the sigmoid rule's scores are not probabilities: its heatmap is named (and its colour bar says) score
        heat = by_name(fig, SCORE_NAME if run.variant.key == "sigmoid_bias" else "router probability")
        assert (heat.zmin, heat.zmax) == PROB_RANGE
        np.testing.assert_allclose(np.asarray(heat.z), run.trace.router_probs.double().numpy())
        words = " ".join(title_lines(fig.layout.title.text)[0])
        assert run.variant.label in words and run.variant.model in words


def title_lines(title: str) -> tuple[list[str], list[int]]:
    """A plotly title's lines as plain text, and each line's font size in px (a <span> sets it, else TITLE_SIZE)."""
    lines = title.split("<br>")
    sizes = [int(m.group(1)) if (m := re.search(r"font-size:(\d+)px", line)) else TITLE_SIZE for line in lines]
    return [re.sub(r"<[^>]+>", "", line) for line in lines], sizes


# /variants draws its heatmaps two to a row; at 1024 px with the sidebar open each chart is ~270 px wide (Chromium).
NARROWEST_CHART_PX = 260
WIDE_BOLD_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")  # wider than the app's Source Sans


@pytest.mark.skipif(not WIDE_BOLD_FONT.exists(), reason="needs Debian's fonts-dejavu-core to measure text")
def test_heatmap_titles_fit_the_narrowest_chart(runs):
    """Every title line, measured in a bold face wider than the one the app uses, fits the chart it is drawn on at
    1024 px (a one-line title was cut off ~150 px short of its end there)."""
    from PIL import ImageFont
    margins = set()
    for fig in variant_heatmaps(runs, LABELS):
        lines, sizes = title_lines(fig.layout.title.text)
        for line, size in zip(lines, sizes):
            width = ImageFont.truetype(str(WIDE_BOLD_FONT), size).getlength(line)
            assert width <= NARROWEST_CHART_PX, (line, width)
        margins.add(fig.layout.margin.t)
        assert fig.layout.margin.t >= sum(sizes) * 1.2  # room for every line above the plot
    assert len(margins) == 1  # charts side by side start their plots at the same height


def row_trace(fig, name, variant):
    return next(trace for trace in fig.data if trace.name == name and trace.meta == variant)


def test_load_rows_match_tokens_per_expert_and_capacity(runs):
    fig = load_comparison(runs)
    for run in runs:
        bars = row_trace(fig, "tokens processed", run.variant.label)
        assert list(bars.y) == run.trace.tokens_per_expert.tolist()
        if run.trace.capacity is not None:
            line = row_trace(fig, "capacity C", run.variant.label)
            assert list(line.y) == [run.trace.capacity] * 2
    dropped_traces = [t for t in fig.data if t.name == "dropped (over capacity)"]
    total_dropped = sum(int(run.trace.dropped.sum()) for run in runs if run.variant.key != "expert_choice")
    assert sum(sum(t.y) for t in dropped_traces) == total_dropped > 0
    y_ranges = {fig.layout[f"yaxis{i if i > 1 else ''}"].range for i in range(1, len(runs) + 1)}
    assert len(y_ranges) == 1  # one shared y range, so bars compare across rows


def test_load_legend_names_every_mark_once(runs):
    fig = load_comparison(runs)
    in_legend = [t.name for t in fig.data if t.showlegend]
    # the hatched drops and the dashed capacity line had no legend entry at all
    assert sorted(in_legend) == sorted({t.name for t in fig.data}) == sorted(LOAD_MARKS)
    for trace in fig.data:  # every row's trace joins its mark's group, so the legend entry stands for all rows
        assert trace.legendgroup == trace.name
    hatched = next(t for t in fig.data if t.showlegend and t.name == "dropped (over capacity)")
    assert hatched.marker.pattern.shape == "/"
    dashed = next(t for t in fig.data if t.showlegend and t.name == "capacity C")
    assert dashed.line.dash == "dash"


# The grid's narrowest column: on a 390-px phone its 7 rules share 234 px of plot (Chromium, tests/browser/
# test_variants.py measures the labels there); Plotly sets a label's lines 1.3 font sizes apart.
NARROWEST_COLUMN_PX = 234 / 7
LINE_SPACING = 1.3


def test_experts_per_token_labels_stand_horizontal_or_upright_never_slanted(runs):
    """Slanted at -30° (Plotly's pick at 1024 px) two-line labels ran into each other; horizontal or upright,
    a label's box is what it covers, and upright each label's lines fit one column even on a phone."""
    axis = experts_per_token_figure(runs, LABELS).layout.xaxis
    assert axis.tickangle is None and axis.automargin  # None: "auto", Plotly picks from autotickangles
    assert list(axis.autotickangles) == TICK_ANGLES and all(angle % 90 == 0 for angle in TICK_ANGLES)
    assert abs(TICK_ANGLES[-1]) == 90  # upright is the last resort, taken whenever horizontal labels overlap
    assert list(axis.tickvals) == [run.variant.label for run in runs]
    for label, text in zip(axis.tickvals, axis.ticktext):  # the same words, on short lines
        assert text.replace("<br>", " ") == label and all(len(line) <= TICK_LINE for line in text.split("<br>"))
    assert axis.tickfont.size == TICK_SIZE
    for variant in VARIANTS:  # every rule the page can show, not only this fixture's
        assert tick_text(variant.label).count("<br>") + 1 <= TICK_LINES, variant.label
    # upright on a phone, two labels stand further apart than two lines of one label, so they do not read as one
    between_labels = NARROWEST_COLUMN_PX - TICK_SIZE * LINE_SPACING * TICK_LINES
    assert between_labels > TICK_SIZE * (LINE_SPACING - 1)


def test_experts_per_token_counts_and_offsets(runs):
    fig = experts_per_token_figure(runs, LABELS)
    heat = by_name(fig, "experts per token")
    counts = np.stack([(~run.trace.dropped).sum(1).numpy() for run in runs], axis=1)
    np.testing.assert_array_equal(np.asarray(heat.text), counts)
    np.testing.assert_array_equal(np.asarray(heat.z), counts - np.array([run.k for run in runs]))
    assert list(heat.x) == [run.variant.label for run in runs]
    ticks = list(fig.layout.yaxis.ticktext)
    assert "<script>" not in ticks[0] and "&lt;script&gt;" in ticks[0]


def test_expert_choice_heatmap_outlines_only_the_picks(runs):
    ec_index = next(i for i, run in enumerate(runs) if run.variant.key == "expert_choice")
    fig = variant_heatmaps(runs, LABELS)[ec_index]
    picked = int((~runs[ec_index].trace.dropped).sum())
    outline = by_name(fig, EXPERT_PICKED)
    assert sum(v is None for v in outline.x) == picked  # one closed square per pick
    assert len(by_name(fig, "chosen, dropped").x) == 0
    # one rule: the walkthrough's step 5 draws the same trace with router_heatmap, and gets the same outlines
    same = router_heatmap(runs[ec_index].trace, LABELS)
    for name in (EXPERT_PICKED, "chosen, dropped"):
        assert list(by_name(same, name).x) == list(by_name(fig, name).x)
