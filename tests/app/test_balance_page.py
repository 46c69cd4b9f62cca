"""The /balance page under AppTest: train a short run, keep it across pages, run the sweep, the aux-free method."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.app import pages
from tests.app.pages import metrics

import moeviz.train

PAGE = "pages/2_balance.py"
PLAIN = (list, dict, float, int, str, bool, type(None))


@pytest.fixture
def train_calls(monkeypatch):
    """Counts training runs the page starts (the page imports train_iter from moeviz.train on every run)."""
    calls = []
    real = moeviz.train.train_iter

    def counting(cfg, *args, **kwargs):
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
    table = at.dataframe[0].value
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


def test_busy_trainers_make_a_run_wait_then_give_up_cleanly(train_calls, monkeypatch):
    real_slot = moeviz.train.trainer_slot
    monkeypatch.setattr(moeviz.train, "trainer_slot", lambda timeout=None: real_slot(timeout=min(timeout, 0.2)))
    at = open_page()
    at.select_slider(key="train_steps").set_value(50)
    with real_slot(timeout=0) as first, real_slot(timeout=0) as second:  # two other learners are training
        assert first and second
        at.button(key="balance_train").click().run()
    assert not at.exception
    assert not train_calls  # it never trained past the limit
    assert any("trainers stayed busy" in w.value for w in at.warning)
    assert moeviz.train.TRAINER_SLOTS._value == moeviz.train.MAX_CONCURRENT_TRAINERS  # every slot released


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
