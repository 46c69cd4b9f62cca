"""The /parallel page under AppTest: capacity from the link, the drop policy, the worker run, bad links."""

import json
import math
import re

import pytest
from streamlit.testing.v1 import AppTest

from tests.app import pages
from tests.app.pages import metrics
from tests.helpers import agree

from moeviz.app.parallel_page import DEFAULT_WORKERS
from moeviz.config import DEFAULT_SWITCH_CAPACITY
from moeviz.parallel import current_pool, shutdown_pool

PAGE = "pages/3_parallel.py"


def figure(at, title_start: str) -> dict:
    """The page's Plotly figure whose title starts with `title_start`, as its JSON spec."""
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return next(f for f in specs if f["layout"].get("title", {}).get("text", "").startswith(title_start))


def traces(fig: dict) -> dict:
    return {t["name"]: t for t in fig["data"]}


def assert_worker_charts_agree_with_their_text(at):
    bars = figure(at, "Per GPU")
    received = traces(bars)["rows received"]["y"]
    ratio = float(re.search(r"received ([\d.]+)× the mean copies", bars["layout"]["title"]["text"]).group(1))
    assert ratio == pytest.approx(max(received) / (sum(received) / len(received)), abs=0.051)
    own = [c.value for c in at.caption if c.value.startswith("Copies received count")][0]
    for rank, n in enumerate(received):  # the caption's own + from others add up to the bar
        mine, others = re.search(rf"GPU {rank}: ([\d,]+) own \+ ([\d,]+) from others", own).groups()
        assert int(mine.replace(",", "")) + int(others.replace(",", "")) == n
    # the capacity sentence names the GPU of the tallest bar and quotes its height (before: "GPU 0's work is
    # capped" at N = 4, where each GPU holds one expert and GPU 3's bar stood as tall as GPU 0's)
    busiest = max(range(len(received)), key=received.__getitem__)
    said = next(m.value for m in at.markdown if "applied per GPU" in m.value)
    assert f"GPU {busiest} received {int(received[busiest]):,} copies with no drops" in said
    timeline = traces(figure(at, "Where each GPU"))
    phases = ("route", "compute", "sending tokens (all-to-all)", "waiting", "other")
    totals = [sum(timeline[p]["x"][i] for p in phases) for i in range(len(timeline["route"]["x"]))]
    labels = [a["text"] for a in figure(at, "Where each GPU")["layout"]["annotations"]]
    steps = sorted(float(re.search(r"step (\d+) ms", t).group(1)) for t in labels)
    # each run's slowest bar reaches the step its label states (labels are rounded to whole ms)
    W = len(received)
    slowest = [max(totals[i:i + W]) for i in range(0, len(totals), W)]
    assert len(slowest) == 3  # balanced, skewed, skewed under capacity
    assert sorted(slowest) == pytest.approx(steps, abs=0.51)


def open_page(params: dict | None = None) -> AppTest:
    return pages.open_page(PAGE, params)


def test_capacity_off_explains_and_drops_nothing():
    at = open_page()
    assert not at.exception
    assert metrics(at)["Dropped copies"] == "0%"
    assert any("Capacity is **off**" in i.value for i in at.info)


def test_section_1_is_titled_for_what_it_shows():
    """Before: "With a capacity limit, each expert has a fixed number of slots" over the default, capacity off,
    where the section shows no limit at all."""
    at = open_page()
    assert not at.exception
    assert metrics(at)["Slots per expert (C)"] == "no limit"
    title, intro = at.header[0].value, at.caption[0].value
    assert title.startswith("1 · With capacity off") and "fixed number of slots" not in title
    assert "capacity factor **off** (its default)" in intro and "dropless case" in intro
    turn_on = next(i.value for i in at.info if "Capacity is **off**" in i.value)
    assert "Turn it on" in turn_on and "dropped" in turn_on  # what turning it on would show
    at = open_page({"capacity_factor": "1"})
    assert metrics(at)["Slots per expert (C)"] == "8"  # ceil(1 * 32 * 2 / 8)
    assert at.header[0].value == "1 · With a capacity limit, each expert has a fixed number of slots"
    assert not [i for i in at.info if "Capacity is **off**" in i.value]
    at = open_page({"router": "switch"})  # capacity off in the sidebar, but Switch keeps its own factor
    assert metrics(at)["Slots per expert (C)"] != "no limit"
    assert at.header[0].value.startswith("1 · With a capacity limit")


def test_the_worker_button_says_what_it_shows_and_how_long():
    """Before: "15 steps take a few seconds", while a first run took about 15 s (the pool's start included)."""
    at = open_page()
    assert not at.exception
    caption = next(c.value for c in at.caption if c.value.startswith("Press the button to run the batch"))
    assert "three cases' step times" in caption and "copies each GPU received" in caption and "timeline" in caption
    from moeviz.app.parallel_page import EP_RUN_S, POOL_START_S  # measured: see their comment
    assert f"about {EP_RUN_S} s" in caption and f"about {POOL_START_S} s more" in caption


def test_small_capacity_drops_and_policy_changes_who_loses():
    at = open_page({"capacity_factor": "0.5", "num_experts": "4", "top_k": "2"})
    assert not at.exception
    m = metrics(at)
    assert m["Slots per expert (C)"] == "8"  # ceil(0.5 * 32 * 2 / 4)
    assert m["Dropped copies"] != "0%"
    for policy in ("priority", "weight"):
        at.radio(key="drop_policy").set_value(policy).run()
        assert not at.exception
        assert at.query_params["drop_policy"] in ([policy], policy)
        # The same number of copies overflow (the loads are the policy's input), only who loses changes.
        assert metrics(at)["Dropped copies"] == m["Dropped copies"]


def test_an_old_link_with_probability_gets_weight_a_notice_and_a_new_link():
    at = open_page({"drop_policy": "probability", "capacity_factor": "0.5", "num_experts": "4"})
    assert not at.exception
    assert at.radio(key="drop_policy").value == "weight"
    notices = [w.value for w in at.warning if "drop_policy" in w.value]
    assert notices and "old name" in notices[0] and "weight" in notices[0]
    assert at.query_params["drop_policy"] in (["weight"], "weight")
    at.run()  # the link now says weight: no second notice
    assert not [w.value for w in at.warning if "drop_policy" in w.value]


def test_switch_formula_shows_the_default_factor_it_really_uses():
    at = open_page({"router": "switch", "num_experts": "4", "top_k": "1"})  # capacity off in the sidebar
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    C = metrics(at)["Slots per expert (C)"]
    assert C == str(math.ceil(DEFAULT_SWITCH_CAPACITY * 32 * 1 / 4))
    assert f"ceil({DEFAULT_SWITCH_CAPACITY:g} · 32 · 1 / 4) = {C}" in text


def test_hostile_page_params_fall_back_with_a_warning():
    at = open_page({"drop_policy": "<script>", "workers": "999", "tokens": "-1"})
    assert not at.exception
    assert len(at.warning) >= 2
    assert at.radio(key="workers").value == DEFAULT_WORKERS  # the default W, as on a plain visit


def test_a_link_with_more_workers_than_experts_gets_a_notice_and_the_largest_valid_w():
    at = open_page({"num_experts": "2", "top_k": "1", "workers": "4"})
    assert not at.exception
    assert at.radio(key="workers").options == ["2"] and at.radio(key="workers").value == 2
    assert any("W = 4 GPUs would be more than the N = 2 experts" in w.value for w in at.warning)
    assert at.query_params["workers"] in (["2"], "2")
    at.run()  # the link now says 2: no second notice
    assert not any("GPUs would be more" in w.value for w in at.warning)


def test_the_model_stops_at_one_expert_per_device_and_names_what_it_leaves_out():
    at = open_page({"model_shape": "mixtral"})
    assert not at.exception
    caption = " ".join(c.value for c in at.caption if c.value.startswith(("The MODEL", "W goes up to")))
    assert "up to N = 8" in caption and "2…8 here" in caption
    assert "node-limited routing" in caption and "at most 4 nodes" in caption
    assert "t_msg = latency per message" in caption and "α" not in caption
    formulas = [e.value for e in at.latex]
    assert formulas and not any("alpha" in f for f in formulas) and any(r"t_\text{msg}" in f for f in formulas)


@pytest.mark.timeout(400)
def test_worker_run_shows_per_worker_results_and_matches_the_layer():
    at = open_page({"num_experts": "4", "top_k": "2"})
    at.button(key="run_parallel").click().run(timeout=300)
    try:
        assert not at.exception and not at.error
        m = metrics(at)
        assert m["Step, balanced (no drops)"].endswith("ms")
        assert agree(m["Parallel vs one process: outputs"])
        assert_worker_charts_agree_with_their_text(at)
        pool = current_pool()
        assert pool is not None and pool.world_size == DEFAULT_WORKERS
        pids = pool.pids
        at.button(key="run_parallel").click().run(timeout=300)  # a rerun reuses the same processes
        assert current_pool().pids == pids
    finally:
        shutdown_pool()


@pytest.mark.timeout(400)
def test_worker_run_with_capacity_drops_per_worker_and_still_matches():
    at = open_page({"num_experts": "4", "top_k": "2", "capacity_factor": "1", "skew": "0.9"})
    at.button(key="run_parallel").click().run(timeout=300)
    try:
        assert not at.exception and not at.error
        assert agree(metrics(at)["Parallel vs one process: outputs"])
        text = [m.value for m in at.markdown if "applied per GPU" in m.value]
        assert text and "Under capacity factor 1**, applied per GPU" in text[0]
        assert_worker_charts_agree_with_their_text(at)
        assert not [c.value for c in at.caption if c.value.startswith("For this demo")]  # nothing was replaced
        from tests.app.test_parallel_one_story import assert_one_word_for_the_gpu  # (it imports this file)
        assert_one_word_for_the_gpu(at)  # the run's own charts and captions too
    finally:
        shutdown_pool()


def test_dropless_section_compares_the_same_batch_both_ways():
    from moeviz.parallel.dropless import dropless_vs_capacity
    from moeviz.app.runners import CAPACITY_D_HIDDEN, CAPACITY_D_MODEL
    from moeviz import MoEConfig
    at = open_page({"num_experts": "4", "top_k": "2", "dropless_cf": "1"})
    assert not at.exception
    m = metrics(at)
    cfg = MoEConfig(d_model=CAPACITY_D_MODEL, d_hidden=CAPACITY_D_HIDDEN, num_experts=4, top_k=2, device="cpu")
    r = dropless_vs_capacity(cfg, 32, 1, 1.0)
    assert m["Dropless: copies computed"] == "64"
    assert m["Capacity 1: copies dropped"] == f"{r.dropped_slots} of 64"
    assert m["Dropless: busiest expert ÷ mean"] == f"{r.busiest_over_mean:.2f}×"
    assert at.query_params["dropless_cf"] in (["1.0"], "1.0", ["1"], "1")


def test_inference_section_shows_alone_vs_batch_and_expert_choice_alone_gets_every_expert():
    at = open_page({"num_experts": "4", "top_k": "2", "inference_token": "3"})
    assert not at.exception
    table = [d for d in at.dataframe if "experts alone (decode)" in d.value.columns]
    assert table
    rows = table[0].value.set_index("routing")
    ec = [label for label in rows.index if label.startswith("expert choice")][0]
    assert rows.loc[ec, "experts alone (decode)"] == "E0, E1, E2, E3"
    dropless = [label for label in rows.index if "dropless" in label][0]
    assert rows.loc[dropless, "experts alone (decode)"] == rows.loc[dropless, "experts in the batch (prefill)"]
    # the columns the text quotes come first (a 1024-px screen shows them), and the text quotes the cells
    shown = json.loads(table[0].proto.columns)
    assert list(table[0].proto.column_order)[:3] == ["routing", "experts in the batch (prefill)", "experts alone (decode)"]
    assert shown["experts alone (decode)"]["label"] == "token: experts, alone"
    story = next(m.value for m in at.markdown if m.value.startswith("**Token 3**"))
    assert f"under **{ec}** it gets {rows.loc[ec, 'experts in the batch (prefill)']} in the batch and E0, E1, E2, E3 alone" in story
    for label, changed in rows["tokens of the batch that change"].items():
        assert f"{changed} under {label}" in story


def test_device_limit_section_keeps_tokens_within_m_devices():
    at = open_page({"num_experts": "16", "top_k": "4", "span_devices": "8", "max_devices": "2"})
    assert not at.exception
    m = metrics(at)
    assert float(m["GPUs per token, at most 2"]) <= 2 < float(m["GPUs per token, free"])
    assert at.radio(key="span_devices").value == 8


def test_the_at_scale_chart_shows_by_default_the_regime_its_text_claims():
    """Before: Mixtral's 8 experts on one 8-GPU node, communication far below compute at every W, while the
    text said it can outweigh compute. Now the default shape spreads past a node and the text names the W."""
    from moeviz.parallel.model import when_comm_wins
    at = open_page()
    assert not at.exception
    fig = figure(at, "MODEL")
    t = traces(fig)
    crossing = next(w for w, comm, comp in zip(t["communication"]["x"], t["communication"]["y"], t["compute"]["y"])
                    if comm > comp)
    text = " ".join(m.value for m in at.markdown)
    assert f"communication outweighs the experts' arithmetic from W = {crossing}**" in text
    at = open_page({"model_shape": "mixtral"})  # an old link: it says precisely why it never crosses
    text = " ".join(m.value for m in at.markdown)
    assert "communication stays below compute up to W = 8**" in text and "fit in one node" in text
    assert when_comm_wins([{"num_devices": 2, "comm_s": 1, "compute_s": 2}]) is None


def test_the_node_limit_acts_at_the_default_and_says_when_it_cannot():
    """Before: N = 8 on W = 8 devices: 2.00 -> 2.00 devices, 100 % unchanged, and the text described an effect."""
    at = open_page()
    assert not at.exception
    m = metrics(at)
    limited = next(v for k, v in m.items() if k.startswith("GPUs per token, at most"))
    assert float(limited) < float(m["GPUs per token, free"])
    assert not any("the limit cannot act" in w.value for w in at.warning)
    at = open_page({"span_devices": "8", "max_devices": "2"})  # one expert per device, M = k: nothing to limit
    assert any("Here the limit cannot act" in w.value for w in at.warning)


def test_every_section_names_its_layer_in_the_layer_line_words():
    at = open_page()
    lines = [c.value for c in at.caption if c.value.startswith(("Layer on this page:", "Layer in this section:"))]
    assert lines[0].startswith("Layer on this page:")  # the page's main layer first, then each section's own
    assert all(line.startswith("Layer in this section:") for line in lines[1:])
    assert len(lines) >= 5  # sections 1, 2, 4, 5 and 6 (section 3 is a model of published shapes)
    assert sum("d_model 32" in line for line in lines) >= 4  # the page's main layer wherever the lesson allows


@pytest.mark.parametrize("skewed, balanced", [
    ([216, 230, 250, 240, 260], [170, 180, 160, 175, 250]),
    ([185, 180, 190, 170, 230], [208, 200, 210, 190, 220]),  # the newcomer's run: slower in 1 of 5
])
def test_the_worker_run_claims_the_slowdown_only_when_its_rounds_show_it(skewed, balanced):
    """Before: with the skewed step faster (185 vs 208 ms, slower in 1 of 5 rounds) the page still said it took
    0.9× the balanced one and "everyone waited for it"."""
    import statistics
    from moeviz.app.parallel_page import slowdown_sentence
    runs = {label: {"round_ms": r, "step_ms": statistics.median(r)}
            for label, r in (("skewed", skewed), ("balanced", balanced))}
    slower = sum(s > b for s, b in zip(skewed, balanced))
    sentence = slowdown_sentence(runs, 0, 3.7, 4)
    assert f"slower in {slower} of the 5 rounds" in sentence or f"slower in only {slower} of the 5" in sentence
    if 2 * slower > len(skewed):
        assert "everyone waited" in sentence and "too noisy" not in sentence
    else:
        assert "too noisy" in sentence and "everyone waited" not in sentence and "took" not in sentence
