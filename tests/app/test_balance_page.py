"""The /balance page under AppTest: the default run shown at once, train a short run live and keep it across pages,
run the sweep, the aux-free method, the price table."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.app import pages
from tests.app.pages import metrics
from tests.helpers import plotly_values

import moeviz.app.runners as runners
import moeviz.train
from moeviz.app.balance_page import DEFAULT_LR, DEFAULT_STEPS, PRICE_WEIGHTS, WAIT_S
from moeviz.train import TrainConfig

PAGE = "pages/2_balance.py"
PLAIN = (list, dict, float, int, str, bool, type(None))


@pytest.fixture
def train_calls(monkeypatch):
    """Counts the live training runs the page starts (it calls moeviz.train.train_iter through the module).
    The cached runs (price table, results and sweep at once) train to the end in one go (report_every = steps)
    and are not counted."""
    calls = []
    real = moeviz.train.train_iter

    def counting(cfg, *args, **kwargs):
        if kwargs.get("report_every", 25) != cfg.steps:
            calls.append(cfg)
        return real(cfg, *args, **kwargs)
    monkeypatch.setattr(moeviz.train, "train_iter", counting)
    return calls


def open_page(params: dict | None = None) -> AppTest:
    return pages.open_page(PAGE, params, timeout=120)


@pytest.mark.timeout(300)
def test_short_run_is_kept_across_pages(train_calls):
    at = open_page({"balance_weight": "0", "num_experts": "4", "top_k": "1"})
    assert not at.exception
    at.select_slider(key="train_steps").set_value(50).run()
    assert at.metric and not train_calls  # a short run is shown at once, from the cache, not trained live
    at.button(key="balance_train").click().run()
    assert not at.exception
    assert len(train_calls) == 1
    cfg = train_calls[0]
    assert (cfg.balance_weight, cfg.num_experts, cfg.top_k, cfg.steps) == (0.0, 4, 1, 50)
    shown = metrics(at)
    assert set(shown) == {"busiest ÷ mean load", "task loss", "specialization", "dropped copies"}
    run = at.session_state["balance_run"]
    assert all(isinstance(v, PLAIN) for v in run.values())  # plain history, no modules or tensors
    assert len(run["task_loss"]) == 50
    assert any("What this run shows" in md.value for md in at.markdown)

    at.switch_page("app.py").run()
    assert not at.exception
    at.switch_page(PAGE).run()
    assert not at.exception
    assert metrics(at) == shown  # the same run, shown again
    assert len(train_calls) == 1  # ... without training again


@pytest.mark.timeout(300)
def test_sweep_trains_each_weight_and_draws_the_tradeoff(train_calls):
    at = open_page({"num_experts": "4", "top_k": "1"})
    at.radio(key="balance_mode").set_value("sweep")
    at.select_slider(key="train_steps").set_value(50).run()
    assert any("busiest ÷ mean load" in d.value.columns for d in at.dataframe)  # short runs: the sweep shows at once
    assert not train_calls
    at.button(key="balance_train").click().run()
    assert not at.exception
    weights = [cfg.balance_weight for cfg in train_calls]
    assert weights == list(moeviz.train.SWEEP_WEIGHTS)
    # the price table at the top has the same column (one name per quantity): the sweep's table is the last one
    table = [d.value for d in at.dataframe if "busiest ÷ mean load" in d.value.columns][-1]
    assert list(table["α"]) == list(moeviz.train.SWEEP_WEIGHTS)
    assert "balance_run" not in at.session_state  # sweep runs do not replace the single run


@pytest.mark.timeout(300)
def test_aux_free_method_uses_the_bias_router(train_calls):
    at = open_page({"balance_weight": "0.3"})
    at.radio(key="balance_method").set_value("aux_free")
    at.select_slider(key="train_steps").set_value(50)
    at.button(key="balance_train").click().run()
    assert not at.exception
    cfg = train_calls[0]
    assert (cfg.router, cfg.method, cfg.balance_weight) == ("sigmoid_bias", "aux_free", 0.0)
    assert any("the aux-loss-free bias" in c.value for c in at.caption)


def test_trainer_slots_are_bounded():
    with runners.trainer_slot(timeout=0) as a, runners.trainer_slot(timeout=0) as b:
        assert a and b
        with runners.trainer_slot(timeout=0) as c:
            assert not c  # a third concurrent run waits
    with runners.trainer_slot(timeout=0) as again:
        assert again  # released on exit
    assert runners.TRAINER_SLOTS._value == runners.MAX_CONCURRENT_TRAINERS == 2


@pytest.mark.timeout(300)
def test_busy_trainers_make_a_run_wait_then_give_up_cleanly(train_calls, monkeypatch):
    real_slot = runners.trainer_slot
    monkeypatch.setattr(runners, "trainer_slot", lambda timeout=None: real_slot(timeout=min(timeout, 0.2)))
    at = open_page()
    at.select_slider(key="train_steps").set_value(50)
    with real_slot(timeout=0) as first, real_slot(timeout=0) as second:  # two other learners are training
        assert first and second
        at.button(key="balance_train").click().run()
    assert not at.exception
    assert not train_calls  # it never trained past the limit
    assert any("trainers stayed busy" in w.value for w in at.warning)
    assert runners.TRAINER_SLOTS._value == runners.MAX_CONCURRENT_TRAINERS  # every slot released


@pytest.mark.timeout(300)
def test_expert_choice_run_explains_even_load_and_specialization_stays_in_range():
    at = open_page({"router": "expert_choice", "num_experts": "3", "top_k": "2", "capacity_factor": "0.5"})
    at.select_slider(key="train_steps").set_value(50)
    at.button(key="balance_train").click().run()
    assert not at.exception
    assert 0 <= int(metrics(at)["specialization"].rstrip("%")) <= 100
    text = " ".join(m.value for m in at.markdown)
    assert "even by construction" in text and "favours a few experts" not in text


def z_pair(fig_spec: str) -> dict:
    """The z-loss chart's traces by (name, panel): y values, from the chart's Plotly spec (plain JSON lists or
    plotly's typed arrays, {"dtype", "bdata"})."""
    import json
    return {(t["name"], t.get("xaxis", "x")): plotly_values(t["y"]).tolist() for t in json.loads(fig_spec)["data"]}


def chart_spec(at: AppTest, title: str) -> str:
    return next(c.proto.spec for c in at.get("plotly_chart") if title in c.proto.spec)


Z_TITLE = "Router z-loss: the same run without and with it"


@pytest.mark.timeout(300)
def test_the_z_loss_section_draws_the_run_without_and_with_it_at_its_default(train_calls):
    """Before: at its default (weight 0, off) the section drew only the unpenalised run, so the demo showed
    nothing. Now it always trains the pair (from the cache), the control choosing the second run's weight, and
    the text quotes their numbers: z falls, the largest logit falls, the logits are shifted, not shrunk."""
    at = open_page()
    assert not at.exception
    weight = at.select_slider(key="z_loss_weight").value
    assert weight > 0
    plain, penalised = (runners.lab_run(TrainConfig(balance_weight=0.01, steps=DEFAULT_STEPS, lr=DEFAULT_LR,
                                                    z_loss_weight=z), WAIT_S) for z in (0.0, weight))
    traces = z_pair(chart_spec(at, Z_TITLE))
    for history, name in ((plain, "without z-loss"), (penalised, f"with z-loss {weight:g}")):
        assert traces[(name, "x")] == pytest.approx(list(history.array("z_loss")))
        assert traces[(name, "x2")] == pytest.approx(list(history.array("max_logit")))  # next to z
    free, held = plain.logit_summary(), penalised.logit_summary()
    assert held["z_loss"] < 0.1 * free["z_loss"] and held["max_logit"] < free["max_logit"]  # the point, shown
    text = " ".join(c.value for c in at.caption)
    assert f"z averages **{free['z_loss']:.3g}**" in text and f"z averages **{held['z_loss']:.3g}**" in text
    if held["mean_abs_logit"] >= free["mean_abs_logit"]:
        assert "*larger*, not smaller" in text
    assert not train_calls  # both from the cache: the page stays interactive


@pytest.mark.slow  # trains its own pair (N = 4, k = 1)
@pytest.mark.timeout(300)
def test_z_loss_weight_from_the_link_sets_the_second_run():
    at = open_page({"z_loss_weight": "0.1", "num_experts": "4", "top_k": "1", "train_steps": "50"})
    assert not at.exception
    assert at.select_slider(key="z_loss_weight").value == 0.1
    precision = [d for d in at.dataframe if "bf16 step there" in d.value.columns]
    assert precision and len(precision[0].value) == 4  # the fp32 explanation needs no training
    traces = z_pair(chart_spec(at, Z_TITLE))
    assert {name for name, _ in traces} == {"without z-loss", "with z-loss 0.1"}
    assert len(traces[("with z-loss 0.1", "x")]) == 50  # the lab's steps, as the run above


def test_a_bad_z_loss_weight_warns_and_falls_back():
    at = open_page({"z_loss_weight": "7"})
    assert not at.exception
    assert at.select_slider(key="z_loss_weight").value == 0.001
    assert any("z_loss_weight" in w.value for w in at.warning)


def test_an_old_links_z_loss_weight_0_gets_a_notice_and_the_nearest_weight():
    at = open_page({"z_loss_weight": "0"})
    assert not at.exception
    assert at.select_slider(key="z_loss_weight").value == 0.001
    assert any("0 (off) is gone" in w.value and "0.001" in w.value for w in at.warning)


@pytest.mark.timeout(300)
def cached_final(weight: float, **fields) -> dict:
    """The page's cached run of the lab at its defaults with balance weight `weight` (the same cache entry)."""
    cfg = TrainConfig(balance_weight=weight, steps=DEFAULT_STEPS, lr=DEFAULT_LR, **fields)
    return runners.lab_run(cfg, WAIT_S).final()


@pytest.mark.timeout(300)
def test_the_price_table_holds_the_sidebars_weight_and_says_why_it_beats_0_3_on_task_loss(train_calls):
    """Before: the default α = 0.01 ended with a lower task loss (0.043) than the table's "good" α = 0.3 (0.065),
    the table did not show α = 0.01 and no sentence said why. Now the sidebar's α is a row, and the text says
    what the numbers show: the trade-off, and where the uneven load is paid."""
    at = open_page()
    assert not at.exception
    table = [d.value for d in at.dataframe if "busiest ÷ mean load" in d.value.columns][0]
    assert list(table["α"]) == ["0", "0.01 (sidebar)", "0.3", "10"]
    rows = [cached_final(w) for w in (0.0, 0.01, *PRICE_WEIGHTS[1:])]
    assert list(table["task loss"]) == [f"{f['task_loss']:.3f}" for f in rows]
    none, chosen, good, large = rows
    text = " ".join(m.value for m in at.markdown)
    assert large["task_loss"] > good["task_loss"] and "is the price of a large weight" in text
    if chosen["task_loss"] < good["task_loss"]:  # the newcomer's puzzle, on this machine's numbers
        assert "no contradiction" in text
        assert f"({chosen['task_loss']:.3f} against {good['task_loss']:.3f})" in text
        assert f"**{chosen['overflow_at_1_25']:.1%}** of all token copies" in text
    assert not train_calls


@pytest.mark.timeout(300)
def test_the_default_run_is_shown_at_once_and_a_long_one_says_what_train_will_do(train_calls):
    """Before: the results waited for a click on Train. A 300-step run is trained (cached) when the page opens;
    a longer one waits for the button, whose caption says what it trains and about how long it takes."""
    at = open_page()
    assert not at.exception
    f = cached_final(0.01)  # the sidebar's default weight: the price table's run, shown again
    assert metrics(at)["task loss"] == f"{f['task_loss']:.3f}"
    assert metrics(at)["busiest ÷ mean load"] == f"{f['max_mean_load']:.2f}"
    assert any("trained when the page needed it" in c.value for c in at.caption)
    assert any(Z_TITLE in c.proto.spec for c in at.get("plotly_chart"))
    assert not train_calls
    at.select_slider(key="train_steps").set_value(1000).run()
    assert not at.exception and not at.metric
    assert any("**Train** trains the run live (1000 steps): about" in c.value for c in at.caption)
    at.radio(key="balance_mode").set_value("sweep").run()
    assert any("**Run sweep** trains the sweep live" in c.value and "1000 steps each" in c.value for c in at.caption)
    assert not train_calls


def test_the_page_states_the_z_loss_and_fp32_facts_precisely():
    at = open_page()
    text = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "smaller router logits" not in text and "small when the logits stay small" not in text
    assert "moving **every logit down**" in text
    assert "Real MoE code therefore computes the router and its softmax in fp32" not in text
    assert "only the softmax in fp32" in text and "GPT-OSS does both in bf16" in text
    assert "millions of tokens" not in text and "per [micro-batch](glossary#micro-batch-and-global-batch)" in text
    table = [d.value for d in at.dataframe if "bf16 step there" in d.value.columns][0]
    assert float(table["tokens with other experts"].iloc[-1].rstrip("%")) > 0  # rounding flips some choices
    # the columns the caption quotes come right after the shift (at 1024 px the last ones were out of view)
    assert list(table.columns[1:3]) == ["tokens with other experts", "tokens tied at the k-th expert"]


def test_busy_trainers_hold_back_the_runs_shown_at_once_with_a_note(monkeypatch):
    real_slot = runners.trainer_slot
    monkeypatch.setattr(runners, "trainer_slot", lambda timeout=None: real_slot(timeout=min(timeout, 0.2)))
    with real_slot(timeout=0) as first, real_slot(timeout=0) as second:  # two other learners are training
        assert first and second
        at = open_page({"seed": "7", "num_experts": "4", "top_k": "1"})  # a layer no other test trained
    assert not at.exception and not at.metric
    assert any("trainers are busy" in i.value for i in at.info)
    assert runners.TRAINER_SLOTS._value == runners.MAX_CONCURRENT_TRAINERS


LEAD_CHARS = 300  # about 7 lines at 390 px (~45 characters a line): under a quarter of an 844 px phone screen


def text_just_before(at: AppTest, column: str) -> list[str]:
    """The Markdown and captions drawn right before the table that has `column`, back to the element above them
    (a title, header, chart, table or widget): what a learner reads before seeing the table."""
    texts = []
    for element in at.main:
        if type(element).__name__ in ("Markdown", "Caption"):
            texts.append(element.value)
        elif type(element).__name__ == "Dataframe" and column in element.value.columns:
            return texts
        elif type(element).__name__ not in ("Block", "Column", "SpecialBlock"):  # containers hold, not show
            texts = []
    raise AssertionError(f"no table with a column {column!r}")


def test_each_table_comes_after_a_short_lead_and_the_longer_text_after_it():
    """Before: on a phone the lab's paragraph (560 characters) preceded the price table of α, and the fp32
    paragraph with the layer line (1,359 characters, more than a screen) preceded the bf16 table. Now each table
    follows a lead of a few lines, and the text that explains it comes under it."""
    at = open_page()
    assert not at.exception
    for column, after in (("busiest ÷ mean load", "Try α = 0 (collapse)"),
                          ("bf16 step there", "bfloat16 keeps 8 significant bits")):
        lead = text_just_before(at, column)
        assert sum(len(text) for text in lead) <= LEAD_CHARS, (column, lead)
        assert not any(after in text for text in lead)
        assert any(after in text for text in [*(m.value for m in at.markdown), *(c.value for c in at.caption)])


@pytest.mark.timeout(300)
def test_a_cluster_map_too_dense_for_its_numbers_says_where_they_are():
    """With 16 experts the map's cells are too narrow on a phone for their numbers: the page says so, and where
    to read them; at the default 8 the cells print them and no such note is drawn."""
    note = "the map prints no numbers"
    at = open_page()
    assert not at.exception and not any(note in c.value for c in at.caption)
    at = open_page({"num_experts": "16"})
    assert not at.exception and any(note in c.value and "16 experts" in c.value for c in at.caption)


def visible_texts(at: AppTest) -> list[str]:
    """What the page's main area shows in words, in page order: titles, headers, Markdown, captions, notes, widget
    labels and options, metric labels, table headers, and the charts' titles, axis titles and trace names (not
    the help tooltips, which may name code for practitioners)."""
    import json
    texts = []
    for element in at.main:
        kind = type(element).__name__
        if kind in ("Markdown", "Caption", "Title", "Header", "Subheader", "Info", "Warning", "Success"):
            texts.append(element.value)
        elif kind == "Dataframe":
            texts.extend(str(c) for c in element.value.columns)
        elif kind == "Metric":
            texts.append(element.label)
        elif hasattr(element, "label"):
            texts.append(element.label)
            texts.extend(str(o) for o in getattr(element, "options", []))
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        layout = spec["layout"]
        texts.extend(a.get("text", "") for a in layout.get("annotations", []))
        texts.extend(str(t.get("name", "")) for t in spec["data"])
        for key, value in layout.items():
            if isinstance(value, dict) and isinstance(value.get("title"), dict):
                texts.append(value["title"].get("text", ""))
        texts.append(str(layout.get("title", {}).get("text", "")))
    return texts


# d_model and d_hidden are the field's notation, printed by the shared layer line and defined in the glossary.
FIELD_NOTATION = {"d_model", "d_hidden"}


@pytest.mark.parametrize("params", [{}, {"balance_method": "aux_free", "train_steps": "50"}], ids=["default", "aux_free"])
def test_no_code_identifiers_in_the_visible_text(params):
    """Before: "router softmax_topk", "method aux_loss", "Megatron-Core's aux_loss", "seq_aux_loss" and
    "moe_router_dtype" were on screen. The page uses the plain names the app uses elsewhere."""
    import re
    at = open_page(params)
    assert not at.exception
    names = {m for text in visible_texts(at) for m in re.findall(r"\b[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]+\b", text)}
    assert names <= FIELD_NOTATION, names


def first_text_with(at: AppTest, words: str) -> tuple[int, str]:
    """The position and text of the first Markdown or caption (or table header) that says `words`."""
    for i, element in enumerate(at.main):
        kind = type(element).__name__
        if kind in ("Markdown", "Caption") and words in element.value.lower():
            return i, element.value
        if kind == "Dataframe" and any(words in str(c).lower() for c in element.value.columns):
            return i, " ".join(element.value.columns)
    raise AssertionError(f"nothing says {words!r}")


def test_the_labs_words_are_explained_where_a_learner_first_meets_them():
    """Before: "specialization" and "task loss" headed the price table and were defined two screens further
    down (task loss never: its chart said "MSE ÷ target power"), and "offset" was never explained. Now each is
    explained in the text right under the table that first shows it, or where the word first appears."""
    at = open_page()
    assert not at.exception
    table_at, _ = first_text_with(at, "specialization")  # the price table's header
    following = []
    for element in list(at.main)[table_at + 1:]:
        if type(element).__name__ not in ("Markdown", "Caption"):
            break
        following.append(element.value)
    under_table = " ".join(following)
    assert "no better than always predicting zero" in under_table  # task loss = MSE / mean(target²)
    assert "**Specialization** (mutual information ÷ its maximum): how much knowing the expert" in under_table
    # one wording of its 100 % on the page: the glossary's, also shown under the results' metric
    from moeviz.glossary import MEASURES
    assert MEASURES["specialization"].split("0% = ")[1] in under_table
    assert "glossary#mutual-information" in under_table
    _, offset = first_text_with(at, "offset")
    assert "one fixed vector added to all of them" in offset


def chart_words(at: AppTest) -> dict:
    """Each chart's titles, axis titles and colour-bar titles, by the chart's key (what a learner reads on it)."""
    import json
    words = {}
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        found = []

        def walk(node, path=""):  # path: the keys down to the text, e.g. "xaxis2.title.text"
            if isinstance(node, dict):
                for key, value in node.items():
                    if key in ("title", "text") and isinstance(value, str):
                        found.append((path, value))
                    walk(value, f"{path}.{key}" if path else key)
            elif isinstance(node, list):
                for value in node:
                    walk(value, path)
        walk({k: v for k, v in spec.get("layout", {}).items() if k != "template"})
        for trace in spec.get("data", []):
            walk(trace.get("colorbar", {}), "colorbar")
        words[chart.proto.id or len(words)] = found
    return words


@pytest.mark.timeout(300)
def test_each_quantity_has_one_name_on_every_label_of_the_page():
    """Before: the busiest expert's load ÷ the mean was "busiest ÷ mean" (table), "max / mean load" (metric and
    chart) and "load ÷ fair share" (colour bar); the dropped copies were "dropped token copies" (metric) and
    "dropped slots" (chart); the health chart's x axis said "step", the others "training step". Now one name each."""
    at = open_page()
    assert not at.exception
    labels = [m.label for m in at.metric] + [str(c) for d in at.dataframe for c in d.value.columns]
    charts = [text for found in chart_words(at).values() for _, text in found]
    everything = " | ".join(labels + charts)
    for old in ("max / mean", "max/mean", "fair share", "dropped slots", "dropped token copies", "MI ÷"):
        assert old not in everything, old
    assert "busiest ÷ mean load" in [m.label for m in at.metric]
    assert any("busiest ÷ mean load" in d.value.columns for d in at.dataframe)
    assert "busiest ÷ mean load" in charts and "dropped copies" in charts and "dropped copies" in labels
    assert "load ÷<br>mean" in charts  # the heatmap's cell: one expert's load ÷ the mean
    prose = " ".join(m.value for m in [*at.markdown, *at.caption])  # the sentences say it as the labels do
    assert "fair share" not in prose and "the mean load" in prose
    step_axes = {text for found in chart_words(at).values() for parent, text in found
                 if parent.startswith("xaxis") and "step" in text}
    assert step_axes == {"training step"}


@pytest.mark.timeout(300)
def test_capacity_off_says_on_the_results_why_nothing_drops_and_what_1_25_would():
    """Before: at the default (capacity off) the results showed "dropped … 0.0%" and a flat chart while the text
    above said the run would overflow a share of its copies at cf = 1.25. Now a caption by the metric says both,
    with the number the text quotes."""
    at = open_page()
    assert not at.exception
    f = cached_final(0.01)
    assert metrics(at)["dropped copies"] == f"{f['dropped_fraction']:.1%}"
    said = [c.value for c in at.caption if c.value.startswith("Capacity off: nothing is dropped")]
    assert len(said) == 1
    assert f"at capacity factor 1.25 this run's final load would overflow {f['overflow_at_1_25']:.1%}" in said[0]
    at = open_page({"capacity_factor": "1.25"})
    assert not at.exception
    assert not any(c.value.startswith("Capacity off") for c in at.caption)


@pytest.mark.timeout(300)
def test_router_entropy_and_mutual_information_are_defined_just_above_the_health_charts():
    """Before: "router entropy (nats)" and "MI" stood on the Routing-health chart with no words for them; then the
    words came under the charts, after a newcomer had met the titles bare."""
    import math
    at = open_page({"num_experts": "8"})
    assert not at.exception
    elements = list(at.main)
    health = next(i for i, e in enumerate(elements)
                  if "Routing health" in getattr(getattr(e, "proto", None), "spec", ""))
    assert type(elements[health - 1]).__name__ == "Caption"  # the words right before the chart
    under = elements[health - 1].value
    assert under.startswith("**The routing-health charts below.**") and "**Busiest ÷ mean load**" not in under
    assert "Busiest ÷ mean load:" in under and "Load CV" in under
    assert "**Router entropy**" in under and "in nats (natural-log units)" in under
    assert f"ln N ≈ {math.log(8):.2f} for N = 8" in under
    assert "mutual information" in under and "glossary#mutual-information" in under


def test_the_task_is_said_before_the_price_table():
    """Before: the sentence saying what the layer learns came in the paragraph under the first table."""
    at = open_page()
    assert not at.exception
    lead = text_just_before(at, "busiest ÷ mean load")
    assert any(text.startswith("The task:") for text in lead)
    assert not any("The task:" in m.value for m in at.markdown if m.value not in lead)


def test_each_balancing_method_is_explained_beside_the_radio_and_headings_do_not_repeat():
    """A newcomer met "selection bias" in the radio with nothing beside it, and read the z-loss header's
    "which parts of routing run in fp32" again as the subheading under it."""
    at = open_page()
    assert not at.exception
    radio = at.radio(key="balance_method")
    captions = list(radio.proto.captions)
    assert len(captions) == len(radio.options) == 2
    aux_loss, aux_free = captions
    assert "balance loss" in aux_loss and "glossary#load-balancing-loss" in aux_loss
    assert "bias" in aux_free and "overloaded" in aux_free and "glossary#" in aux_free
    headings = [h.value for h in (*at.header, *at.subheader)]
    assert len(set(headings)) == len(headings)
    for a in headings:
        assert not any(a != b and a.lower() in b.lower() for b in headings), a


def test_the_cluster_map_says_what_its_cells_are_a_share_of():
    at = open_page()
    assert not at.exception
    assert any("one cluster's token copies" in c.value and "at most 1/2 = 50%" in c.value for c in at.caption)
    spec = chart_spec(at, "Where each cluster's tokens went")
    assert "token copies" in spec and "cluster's slots" not in spec


def test_the_balance_loss_mode_z_and_bf16_are_said_where_a_newcomer_meets_them():
    """The second newcomer read: the balance loss was named before it was defined, the Mode radio had no words,
    z was never defined, bf16 and the precision section's own layer were unexplained, and the last sentence said the
    z-loss keeps the logits from drifting up while the caption above showed the mean |logit| rising."""
    at = open_page()
    assert not at.exception
    lead = text_just_before(at, "busiest ÷ mean load")
    assert any("balance loss" in t and "defined under the table" in t for t in lead)
    assert any(c.value.startswith("**Balance loss** (Switch Transformer): N · Σᵢ fᵢ · Pᵢ")
               and "glossary#load-balancing-loss" in c.value for c in at.caption)
    modes = list(at.radio(key="balance_mode").proto.captions)
    assert len(modes) == 2 and "sidebar's α" in modes[0] and "α = 0, 0.01" in modes[1]
    text = " ".join([m.value for m in at.markdown] + [c.value for c in at.caption])
    assert "z is the value the z-loss penalises" in text and "logsumexp = ln Σ exp(logit)" in text
    assert "glossary#bf16-and-fp32" in text
    assert "drifting up" not in text and "picks the largest" in text
    precision_line = next(c.value for c in at.caption if c.value.startswith("Layer in this section")
                          and "d_hidden 8" in c.value)
    assert "Not the lab's layer above" in precision_line
    assert "collapse grows" not in text  # the α = 0 run ends less skewed than its first step
