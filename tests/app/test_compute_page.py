"""The /compute page under AppTest: counts follow the sidebar, the measurement runs on demand."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.app import pages
from tests.app.pages import metrics
from moeviz.app.compute_page import DEVICES

PAGE = "pages/4_compute.py"


def open_page(params: dict | None = None) -> AppTest:
    return pages.open_page(PAGE, params)


def test_counts_follow_the_sidebar():
    at = open_page({"num_experts": "16", "top_k": "1"})
    assert not at.exception
    assert metrics(at)["Rule of thumb k/N"] == "6.2%" or metrics(at)["Rule of thumb k/N"] == "6.3%"
    total_16 = metrics(at)["Total parameters"]
    at2 = open_page({"num_experts": "8", "top_k": "1"})
    assert metrics(at2)["Total parameters"] != total_16
    assert metrics(at2)["Rule of thumb k/N"] == "12.5%"


@pytest.mark.timeout(300)
def test_sparse_vs_dense_is_timed_as_the_page_opens_and_again_on_click():
    """Before: the section showed nothing until "Measure sparse vs dense" was pressed, though the default batch
    times in about a second."""
    at = open_page()
    assert not at.exception
    assert any("The k/N saving" in md.value for md in at.markdown)
    assert at.button(key="measure").label == "Measure again"
    first = timing_medians(at)
    assert set(first) == {"sparse", "dense-all", "dense-equivalent"} and all(ms > 0 for ms in first.values())
    at.button(key="measure").click().run(timeout=200)  # a fresh take, not the cached one
    assert not at.exception
    again = timing_medians(at)
    assert set(again) == set(first) and again != first  # measured anew: wall times never repeat to the last bit


def timing_medians(at) -> dict:
    """Section 2's chart: implementation -> median ms."""
    import json
    bars = next(json.loads(c.proto.spec)["data"][0] for c in at.get("plotly_chart")
                if json.loads(c.proto.spec)["data"][0].get("name") == "median ms")
    return dict(zip(bars["x"], bars["y"]))


@pytest.mark.timeout(300)
def test_a_large_batch_waits_for_the_button_that_says_how_long():
    at = open_page({"batch": "4096", "num_experts": "8"})
    assert not at.exception
    assert not any("Dense-all takes" in md.value for md in at.markdown)
    caption = next(c.value for c in at.caption if c.value.startswith("Press the button to time the three"))
    assert "bar chart of their median times" in caption  # what it will show
    from moeviz.app.compute_page import MAX_TIMING_S, WORK_PER_S  # measured: see their comment
    seconds = min(MAX_TIMING_S, round(4096 * 8 / WORK_PER_S))  # dense-all's work: tokens x experts
    assert f"about {seconds} s" in caption  # and how long
    assert at.button(key="measure").label == f"Measure sparse vs dense (about {seconds} s)"


def test_bad_batch_in_link_warns_and_uses_default():
    at = open_page({"batch": "9999999"})
    assert not at.exception and at.warning
    assert at.select_slider(key="batch").value == 256


def design_rows(at, column: str):
    """Section 3's table that holds `column`, indexed by design."""
    tables = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(tables) == 1
    return tables[0].set_index("design")


def test_fine_grained_and_shared_section_counts_the_four_real_layers():
    from moeviz import MoEConfig
    from moeviz.costs import design_costs, granularity_designs
    at = open_page({"num_experts": "8", "top_k": "2"})
    assert not at.exception
    rows = design_rows(at, "expert sets a token can get")
    cfg = MoEConfig(d_model=256, d_hidden=512, num_experts=8, top_k=2)
    for d in granularity_designs(cfg):
        counted = design_costs(d["cfg"])
        assert rows.loc[d["label"], "parameters (layer's tensors)"] == f"{counted['total_params']:,}"
        assert rows.loc[d["label"], "top-k"] == d["cfg"].top_k
    assert rows.loc["fine + shared (DeepSeekMoE)", "experts"] == "1 shared + 32 × 128 wide"
    assert rows.loc["fine", "expert sets a token can get"] == "10,518,300"  # C(32, 8)


@pytest.mark.timeout(300)
def test_the_four_designs_are_timed_as_the_page_opens_and_again_on_click():
    """Before: their times waited for "Time the four designs", though the four take under half a second."""
    at = open_page({"num_experts": "4", "top_k": "1"})
    assert not at.exception
    times = design_rows(at, "median forward (ms)")["median forward (ms)"]
    assert len(times) == 4 and all(float(t) > 0 for t in times)
    at.button(key="measure_granularity").click().run(timeout=200)
    assert not at.exception
    assert len(design_rows(at, "median forward (ms)")) == 4


def test_the_whole_model_share_is_shown_next_to_k_over_n():
    at = open_page()
    table = at.dataframe[0].value
    rows = dict(zip(table["model"], table["active / total (whole model)"]))
    assert rows["Mixtral 8x7B"] == "12.9B / 46.7B = 27.6%" and rows["DeepSeek-V3"] == "37.0B / 671.0B = 5.5%"
    assert any("attention" in m.value and "k/N" in m.value for m in at.markdown)
    # the sources in the caption (a fourth column ran past the table's edge at 1024 px)
    assert any("Mixtral 8x7B: Mistral AI's Mixtral announcement" in c.value for c in at.caption)


def test_active_share_is_not_drawn_as_an_increase():
    at = open_page({"num_experts": "8", "top_k": "2"})
    active = next(m for m in at.metric if m.label == "Active per token")
    assert active.delta.endswith("of total")
    assert active.proto.direction == active.proto.NONE  # was UP: "↑ 25.1 %" read as a rise


def test_every_section_names_its_layer_and_shows_d_model():
    """Before: one layer line at the top and a layer "the sidebar sets" whose d_model the sidebar never shows."""
    at = open_page({"num_experts": "8", "top_k": "2"})
    lines = [c.value for c in at.caption if c.value.startswith(("Layer on this page:", "Layer in this section:"))]
    assert len(lines) >= 4 and all("d_model 256" in line for line in lines)
    assert any("d_model and d_hidden are this page's own" in line and "is the width inside each expert" in line
               for line in lines)


def test_every_count_is_in_flops_with_the_factor_of_two_said():
    """/compute counts in FLOPs (2 per multiply-add, moeviz.costs). Before, its section 3 showed the experts'
    multiply-adds (524,288) beside FLOPs (1,052,672 per token; "adds 524,288 FLOPs") with the factor 2 unsaid."""
    import json

    from moeviz import MoEConfig
    from moeviz.costs import cost_summary, design_costs, granularity_designs
    at = open_page({"num_experts": "8", "top_k": "2"})
    assert not at.exception
    cfg = MoEConfig(d_model=256, d_hidden=512, num_experts=8, top_k=2)
    counted = {d["label"]: design_costs(d["cfg"]) for d in granularity_designs(cfg)}
    frame = next(d for d in at.dataframe if "active FLOPs / token" in d.value.columns)
    rows = frame.value.set_index("design")
    for label, c in counted.items():
        assert rows.loc[label, "active FLOPs / token"] == f"{c['active_flops_per_token']:,}"
        # the run's expert rows, in FLOPs: costs' count of the routed and shared experts without the router
        assert rows.loc[label, "expert FLOPs / token (run)"] == f"{c['dense_equivalent_flops_per_token']:,}"
    shown = json.loads(frame.proto.columns)
    headers = [shown.get(name, {}).get("label", name) for name in frame.value.columns]
    assert not [h for h in headers if "multiply-add" in h]  # one unit in the table: FLOPs
    assert all("2 ×" in shown[name]["help"] for name in ("active FLOPs / token", "expert FLOPs / token (run)"))
    text = " ".join(m.value for m in at.markdown) + " " + " ".join(c.value for c in at.caption)
    assert "FLOPs = 2 × multiply-adds" in text
    extra = counted["coarse + shared"]["active_flops_per_token"] - counted["coarse"]["active_flops_per_token"]
    assert f"adds {extra:,} FLOPs per token" in text
    stay = counted["fine + shared (DeepSeekMoE)"]["dense_equivalent_flops_per_token"]
    assert f"the experts' FLOPs per token stay {stay:,}" in text and "2 FLOPs per multiply-add" in text
    bars = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                if json.loads(c.proto.spec)["data"][0].get("name") == "FLOPs per token")
    s = cost_summary(cfg)
    assert bars["data"][0]["x"] == [s["active_flops_per_token"], s["dense_flops_per_token"],
                                    s["dense_equivalent_flops_per_token"]]


def test_the_layer_line_names_the_acting_knobs_once_as_the_sidebar_does():
    """Before: "(the sidebar sets N, k, the router and the seed). Sidebar knobs that act here: N, k, router and
    capacity factor." while the sidebar marks the seed "Not used on this page"."""
    at = open_page({"num_experts": "8", "top_k": "2"})
    line = next(c.value for c in at.caption if c.value.startswith("Layer on this page:"))
    assert "Sidebar knobs that act here" in line and "and seed" not in line and line.count("the sidebar") + line.count("Sidebar knobs") == 1
    # The page's line names every knob that acts on the page (tests/app/test_knobs.py), and says which act where.
    assert "Sidebar knobs that act here: N, k, router and capacity factor." in line
    assert "Section 1 counts it; sections 2 and 3 run it" in line


def test_each_section_names_only_the_knobs_that_move_it():
    """Before: sections 1 and 3 said the router and the capacity factor act, though no count changes with them
    and section 3's four designs always route by softmax top-k with no limit; the timings do change."""
    at = open_page()
    lines = [c.value for c in at.caption if c.value.startswith(("Layer on this page:", "Layer in this section:"))]
    page, timing, sweep, designs = lines
    assert page.endswith("Sidebar knobs that act here: N, k, router and capacity factor.")  # all the page's
    counts = next(c.value for c in at.caption if c.value.startswith("The counts below follow"))
    assert "only N and k move them" in counts  # section 1 names only the knobs that move a count
    assert designs.endswith("Sidebar knobs that act here: N and k.") and "softmax top-k" in designs
    assert timing.endswith("Sidebar knobs that act here: N, k, router and capacity factor.")
    shown = metrics(at)
    for params in ({"capacity_factor": "1"}, {"router": "sigmoid_bias"}):  # neither moves a count
        assert metrics(open_page(params)) == shown
    assert metrics(open_page({"num_experts": "16"}))["Total parameters"] != shown["Total parameters"]


@pytest.mark.parametrize("slower_turns", [9, 8, 5, 1, 0])
def test_the_fine_vs_coarse_sentence_claims_only_what_the_turns_show(slower_turns):
    """Before: a ratio of two medians was read as a cost of narrower experts (1.4×), while the same coarse layer
    timed 1.4× apart in sections 2 and 3 from noise alone. Now the claim counts the turns the two took side by
    side, and says "slower" or "faster" only when nearly every turn agrees."""
    from moeviz.app.compute_page import fine_vs_coarse_sentence
    coarse = [5.0 + 0.1 * i for i in range(9)]
    fine = [c + (1.0 if i < slower_turns else -0.5) for i, c in enumerate(coarse)]
    sentence = fine_vs_coarse_sentence(coarse, fine)
    if slower_turns >= 8:
        assert f"slower in {slower_turns} of 9 turns" in sentence and "Equal FLOPs need not" in sentence
    elif slower_turns <= 1:
        assert f"faster in {9 - slower_turns} of 9 turns" in sentence
    else:
        assert f"slower in only {slower_turns} of 9 turns" in sentence and "no clear difference" in sentence
    assert fine_vs_coarse_sentence(None, fine) == ""  # untimed: no claim


def test_the_designs_timed_in_turns_keep_one_sample_per_turn():
    from moeviz.bench.granularity import time_designs
    from moeviz.config import MoEConfig
    cfg = MoEConfig(d_model=16, d_hidden=32, num_experts=4, top_k=2)
    times = time_designs({"a": cfg, "b": cfg.replace(num_experts=8)}, 32, 5)
    for t in times.values():
        assert len(t["samples_ms"]) == 5 and sorted(t["samples_ms"])[2] == t["median_ms"]


def test_the_count_charts_keep_their_labels_level_and_short():
    """Before: "dense-all (every expert)" and its neighbours did not fit side by side under vertical bars in the
    half-width column at 1024 px, and Plotly slanted them. Now the bars lie horizontal, their labels on the left,
    each broken before its parenthesis (the browser check at 1920/1024/390 px: tests/browser/test_systems_pages.py)."""
    import json
    at = open_page()
    assert not at.exception
    specs = {json.loads(c.proto.spec)["layout"]["title"]["text"]: json.loads(c.proto.spec)
             for c in at.get("plotly_chart")}
    for title in ("FLOPs per token", "Parameters: stored vs used by one token"):
        bars, axis = specs[title]["data"][0], specs[title]["layout"]["yaxis"]
        assert bars["orientation"] == "h" and axis["tickvals"] == bars["y"]  # full names kept for hover and tests
        assert max(len(line) for label in axis["ticktext"] for line in label.split("<br>")) <= 16


def test_the_hardware_is_named_as_the_reader_names_it():
    """Before: a "Device" radio offering "cpu" (and "cuda"); the systems pages now say CPU and GPU, never device."""
    at = open_page()
    if len(DEVICES) > 1:
        radio = at.radio(key="device")
        assert radio.label == "Run on" and radio.options[0] == "CPU" and radio.value == "cpu"
    assert at.query_params.get("device") in (None, "cpu", ["cpu"])  # the link keeps torch's name


def test_the_hardware_radio_shows_only_when_there_is_a_choice():
    """Before: a "Run on" radio with CPU as its only option on a server with no GPU."""
    at = open_page()
    radios = [r for r in at.radio if r.key == "device"]
    said = [c.value for c in at.caption if c.value.startswith("Runs on this server's")]
    if len(DEVICES) > 1:
        assert radios and not said
    else:
        assert not radios and said == ["Runs on this server's CPU (no GPU here)"]
        at = open_page({"device": "cuda"})  # the key is parsed as before: an unknown device warns, CPU runs
        assert not at.exception and at.warning and at.query_params.get("device") in ("cpu", ["cpu"])


def test_t_is_named_where_it_is_first_used():
    at = open_page()
    assert any("T (tokens in the batch)" in h.value for h in at.subheader)


@pytest.mark.timeout(300)
def test_section_3_says_its_first_design_is_section_2s_layer_with_both_times():
    """A reader saw the same layer timed in sections 2 and 3, up to 2x apart, with nothing saying it was the same
    layer or why the times differ."""
    at = open_page()
    sparse_ms = timing_medians(at)["sparse"]
    coarse_ms = design_rows(at, "median forward (ms)")["median forward (ms)"]["coarse"]
    said = [c.value for c in at.caption if "section 2's sparse layer" in c.value]
    assert len(said) == 1 and f"{sparse_ms:.2f} ms there, {coarse_ms} ms here" in said[0]
    other = open_page({"router": "topk_softmax"})  # section 3 routes by softmax: not the same layer any more
    assert not any("section 2's sparse layer" in c.value for c in other.caption)


def test_section_1_names_only_n_and_k_under_its_heading_and_the_page_line_comes_before_it():
    """Before: section 1 drew the page's line, naming the router and the capacity factor as acting, while the
    same line said the counts ignore them."""
    at = open_page()
    texts = [e.value for e in at.main if getattr(e, "value", None).__class__ is str]
    page = next(i for i, t in enumerate(texts) if t.startswith("Layer on this page:"))
    first = texts.index("1 · Parameters and FLOPs, counted")
    assert page < first
    assert texts[first + 1].startswith("The counts below follow the layer's shape alone")
    assert "router and capacity factor" not in texts[first + 1].split("(")[0]


def test_the_seed_the_sidebar_calls_unused_moves_nothing_on_the_page():
    """Before: the sidebar said the seed does not act, but section 3's shared ÷ output read the seed's random
    weights and changed with it."""
    def shown(seed: str) -> list:
        at = open_page({"seed": seed})
        assert not at.exception
        costs = next(d.value for d in at.dataframe if "shared ÷ output norm" in d.value.columns)
        return costs["shared ÷ output norm"].tolist()
    assert shown("0") == shown("7")
    assert any("Not used" in c.value and "seed 0" in c.value for c in open_page({"seed": "7"}).sidebar.caption)


def test_expert_sets_are_not_a_second_c():
    """C is the capacity on every other page: the number of expert sets is "N choose k", not C(N, k)."""
    at = open_page()
    text = " ".join([m.value for m in at.markdown] + [c.value for c in at.caption])
    assert "C(N" not in text and "N choose k" in text


def test_the_parts_inside_a_numbered_section_are_drawn_as_parts():
    """A newcomer could not tell the numbered sections from the unnumbered parts inside them: every h3 on the
    page is an app.subsection (an h3 inside a subpart_ container, which the app's CSS draws smaller)."""
    from moeviz.app.style import APP_CSS
    at = open_page()
    assert '[class*="st-key-subpart_"] h3' in APP_CSS
    heads = {h.value for h in at.subheader}
    assert heads == {"A whole model is less sparse than one MoE layer",
                     "How time scales with N (experts) and with T (tokens in the batch)"}
    assert {h.value for block in pages.keyed_blocks(at, "subpart_") for h in block.subheader} == heads


def test_the_second_reads_words_are_said_where_they_first_stand():
    """The second newcomer read: FLOPs met before its definition, "k·H" with H never defined, "p95", the charts
    "below" that appear only after a press, "a real MoELayer", and "dominates" with no scale for shared ÷ output."""
    at = open_page()
    texts = [e.value for e in at.main if isinstance(getattr(e, "value", None), str)]
    first = texts.index("1 · Parameters and FLOPs, counted")
    assert "glossary#flops" in texts[first + 1] and "2 per multiply-add" in texts[first + 1]
    text = " ".join(texts)
    assert "k·H" not in text and "k · d_hidden wide" in text and "feed-forward network" in text
    assert "MoELayer" not in text and "dominates" not in text and "as long as the whole output" in text
    assert "press *Measure scaling* below" in text and "glossary#attention" in text
    spec = next(c.proto.spec for c in at.get("plotly_chart") if "median" in c.proto.spec and "percentile" in c.proto.spec)
    assert "p95" not in json.loads(spec)["layout"]["yaxis"]["title"]["text"]


def test_a_split_vote_says_the_median_is_not_to_be_trusted():
    """Before: "slower in only 5 of 9 turns (median 1.4×) … no clear difference" read as a contradiction."""
    from moeviz.app.compute_page import fine_vs_coarse_sentence
    coarse = [5.0] * 9
    fine = [7.0] * 5 + [4.9] * 4
    sentence = fine_vs_coarse_sentence(coarse, fine)
    assert "The medians say the fine layer took 1.4×" in sentence and "too often to trust that median" in sentence
    # and it says what "clear" means: 7 of 9 slower read as a contradiction next to "no clear difference"
    assert "clear when one layer is slower in at least 8 of the 9 turns" in sentence


def test_the_section_2_ratios_are_shown_again_from_the_fastest_runs():
    """Before: "3.7× the dense-equivalent" rested on one take's medians, while section 3 timed the same layer 2×
    apart. Now the same take's fastest runs give the ratios a second time, and the page says whether they agree."""
    from moeviz.app.compute_page import fastest_sentence
    def results(sparse, dense_all, dense_eq):
        return {n: {"median_ms": m, "min_ms": f} for n, (m, f) in
                (("sparse", sparse), ("dense-all", dense_all), ("dense-equivalent", dense_eq))}
    steady = fastest_sentence(results((10.0, 9.0), (40.0, 36.0), (3.0, 2.8)))
    assert f"dense-all takes {36 / 9:.1f}×" in steady and f"sparse layer {9 / 2.8:.1f}×" in steady
    assert "within 25 % of each other" in steady
    moved = fastest_sentence(results((11.2, 5.0), (40.0, 36.0), (3.0, 2.8)))  # the sparse median twice its best
    assert "differ by more than 25 %" in moved and "rough" in moved


def test_the_spread_sentence_says_to_read_the_median_over_how_many_runs():
    """Before: 95th-percentile whiskers six times the median stood next to ratios stated as facts."""
    from moeviz.app.compute_page import spread_sentence
    results = {name: {"median_ms": 16.9, "p95_ms": 108.0, "runs": 20} for name in ("sparse", "dense-all")}
    said = spread_sentence(results, "cpu")
    assert "Read the medians" in said and "20 timed runs" in said and "shared CPU" in said
    results["dense-all"]["runs"] = 7
    assert "7 to 20 timed runs" in spread_sentence(results, "cpu")


def test_the_third_reads_words_are_explained_and_linked():
    """Third newcomer read: d_hidden in the top line, the capacity factor never explained, how the router and the
    capacity factor act, and which sections the Batch (tokens) slider moves."""
    at = open_page()
    assert not at.exception
    line = next(c.value for c in at.caption if c.value.startswith("Layer on this page:"))
    assert "width inside each expert" in line and "glossary#d-model-and-d-hidden" in line
    text = " ".join([m.value for m in at.markdown] + [c.value for c in at.caption])
    assert "glossary#capacity-factor" in text
    assert "decides which experts each token picks" in text and "drops the copies past C" in text
    assert "only these three bars" in at.select_slider(key="batch").help
    assert any("The sweep uses its own T values" in c.value for c in at.caption)
    assert any("timed runs" in c.value and "Read the medians" in c.value for c in at.caption)


def test_the_shared_experts_time_is_set_beside_its_flops():
    """A reader saw the shared expert add 50 % FLOPs and 1 % time, with only "that is its cost" beside them."""
    from moeviz.app.compute_page import shared_time_words
    coarse = {"median_ms": 6.09, "active_flops_per_token": 1_052_672}
    shared = {"median_ms": 6.16, "active_flops_per_token": 1_576_960}
    said = shared_time_words(coarse, shared)
    assert said.startswith("In time it cost +1% here against +50% in FLOPs") and "time need not follow FLOPs" in said
    assert shared_time_words({**coarse, "median_ms": None}, shared) == ""  # untimed: nothing claimed
    slow = shared_time_words(coarse, {**shared, "median_ms": 8.5})  # +40 % time: no "need not follow"
    assert slow.endswith("much as its arithmetic says.")
