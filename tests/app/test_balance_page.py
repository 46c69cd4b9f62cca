"""The /balance page under AppTest: train a short run, keep it across pages, run the sweep, the aux-free method."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.app import pages
from tests.app.pages import metrics

import moeviz.app.runners as runners
import moeviz.train
from moeviz.app.balance_page import DEFAULT_LR, DEFAULT_STEPS, PRICE_WEIGHTS, WAIT_S
from moeviz.app.runners import price_of_weights

PAGE = "pages/2_balance.py"
PLAIN = (list, dict, float, int, str, bool, type(None))


@pytest.fixture
def train_calls(monkeypatch):
    """Counts the live training runs the page starts (it calls moeviz.train.train_iter through the module).
    The price table's runs train to the end in one go (report_every = steps) and are not counted."""
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
    assert not at.metric  # nothing trains until asked
    at.select_slider(key="train_steps").set_value(50)
    at.button(key="balance_train").click().run()
    assert not at.exception
    assert len(train_calls) == 1
    cfg = train_calls[0]
    assert (cfg.balance_weight, cfg.num_experts, cfg.top_k, cfg.steps) == (0.0, 4, 1, 50)
    shown = metrics(at)
    assert set(shown) == {"max / mean load", "task loss", "specialization", "dropped token copies"}
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
    at.select_slider(key="train_steps").set_value(50)
    at.button(key="balance_train").click().run()
    assert not at.exception
    weights = [cfg.balance_weight for cfg in train_calls]
    assert weights == list(moeviz.train.SWEEP_WEIGHTS)
    table = [d.value for d in at.dataframe if "max/mean load" in d.value.columns][0]
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
    assert any("method aux_free" in c.value for c in at.caption)


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


@pytest.mark.timeout(300)
def test_z_loss_weight_from_the_link_trains_and_the_z_loss_is_plotted(train_calls):
    at = open_page({"z_loss_weight": "0.1", "num_experts": "4", "top_k": "1", "train_steps": "50"})
    assert not at.exception
    assert at.select_slider(key="z_loss_weight").value == 0.1
    precision = [d for d in at.dataframe if "bf16 step there" in d.value.columns]
    assert precision and len(precision[0].value) == 4  # the fp32 explanation runs before any training
    at.button(key="balance_train").click().run()
    assert not at.exception
    assert train_calls[-1].z_loss_weight == 0.1
    titles = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("Router z-loss of the last run (z-loss weight 0.1)" in spec for spec in titles)


def test_a_bad_z_loss_weight_warns_and_falls_back():
    at = open_page({"z_loss_weight": "7"})
    assert not at.exception
    assert at.select_slider(key="z_loss_weight").value == 0.0
    assert any("z_loss_weight" in w.value for w in at.warning)


@pytest.mark.timeout(300)
def test_the_price_of_a_large_weight_is_shown_at_the_default_without_a_click():
    """Before: α = 10 was seen only behind the sweep button, and α = 0.3 beat α = 0, so "a large weight costs
    quality" was never on screen. Now the three are trained for the sidebar's layer and shown in the intro."""
    at = open_page()
    assert not at.exception
    table = [d.value for d in at.dataframe if "task loss (lower is better)" in d.value.columns]
    assert table and list(table[0]["α"]) == [f"{w:g}" for w in PRICE_WEIGHTS]
    none, good, large = price_of_weights(8, 2, "softmax_topk", None, 0, PRICE_WEIGHTS, DEFAULT_STEPS, DEFAULT_LR,
                                         WAIT_S)  # the page's cached runs
    assert large["task_loss"] > good["task_loss"] and large["max_mean_load"] < none["max_mean_load"]
    assert list(table[0]["task loss (lower is better)"]) == [f"{f['task_loss']:.3f}" for f in (none, good, large)]
    text = " ".join(m.value for m in at.markdown)
    assert "is the price of a large weight" in text and f"{large['task_loss']:.3f}" in text


def test_the_page_states_the_z_loss_and_fp32_facts_precisely():
    at = open_page()
    text = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "smaller router logits" not in text and "small when the logits stay small" not in text
    assert "moving **every logit down**" in text
    assert "Real MoE code therefore computes the router and its softmax in fp32" not in text
    assert "only the softmax in fp32" in text and "GPT-OSS does both in bf16" in text
    assert "millions of tokens" not in text and "per micro-batch" in text
    table = [d.value for d in at.dataframe if "bf16 step there" in d.value.columns][0]
    assert float(table["tokens with other experts"].iloc[-1].rstrip("%")) > 0  # rounding flips some choices
