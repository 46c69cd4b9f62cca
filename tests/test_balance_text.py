"""/balance's explanation describes the run that was made: its paragraphs follow the run's own final numbers."""
import pytest

from moeviz.app.balance_text import BALANCED_LOAD, COLLAPSED_LOAD, explain_run, verdict
from moeviz.train import TrainConfig, train_iter


def final_run(**fields):
    for history in train_iter(TrainConfig(steps=300, **fields), report_every=300):
        pass
    return history.final(), history.config


@pytest.mark.parametrize("weight", [0.0, 0.3, 10.0])
def test_the_paragraphs_follow_the_runs_load(weight):
    f, cfg = final_run(balance_weight=weight)
    text = explain_run(f, cfg)
    collapsed = f["max_mean_load"] >= COLLAPSED_LOAD or f["idle_experts"] > 0
    balanced = f["max_mean_load"] < BALANCED_LOAD and not collapsed
    assert ("*Expert collapse.* This run collapsed" in text) == collapsed
    assert ("*Balanced.*" in text) == balanced
    assert f"{f['max_mean_load']:.2f}×" in text
    assert ("drowns the task's signal" in text) == (weight >= 1)


def test_the_default_lab_run_balances_and_alpha_0_collapses():
    # The case: α = 0.3 ends near 1.1× the mean and was still told about collapse.
    assert verdict(final_run(balance_weight=0.3)[0]) == "balanced"
    assert verdict(final_run(balance_weight=0.0)[0]) == "collapsed"


def test_expert_choice_gets_no_collapse_story():
    f, cfg = final_run(router="expert_choice", balance_weight=0.0)
    text = explain_run(f, cfg)
    assert "even by construction" in text and "collapse" not in text.lower()
