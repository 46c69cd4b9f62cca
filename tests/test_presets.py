"""Presets: valid values for the shared controls that survive the link parsers unchanged."""
import pytest

from moeviz import MoEConfig
from moeviz.app.params import SHARED_KEYS, capacity_value, fit_top_k, read_shared
from moeviz.presets import PRESETS, PRESETS_BY_KEY
from moeviz.train import TrainConfig, train


def test_the_issue_s_scenarios_are_there_and_keys_are_unique():
    names = {p.name for p in PRESETS}
    for wanted in ("Balanced top-2 of 8", "Collapse without balance loss", "Switch top-1 with tight capacity",
                   "DeepSeek-style 64 experts top-6"):
        assert wanted in names
    assert len(PRESETS_BY_KEY) == len(PRESETS)


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.key)
def test_preset_survives_the_link_parsers(preset):
    params = preset.url_params()
    assert tuple(params) == SHARED_KEYS
    values, warnings = read_shared(lambda key: [params[key]] if key in params else [])
    assert warnings == []
    assert values == preset.values()  # nothing was corrected on the way in


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.key)
def test_preset_builds_a_valid_layer(preset):
    top_k, note = fit_top_k(preset.top_k, preset.num_experts)
    assert note is None and top_k == preset.top_k
    cfg = MoEConfig(num_experts=preset.num_experts, top_k=preset.top_k, router=preset.router,
                    capacity_factor=capacity_value(preset.capacity_factor), seed=preset.seed)
    assert cfg.top_k <= cfg.num_experts


def test_presets_say_what_their_name_promises():
    assert PRESETS_BY_KEY["collapse"].balance_weight == 0.0
    assert PRESETS_BY_KEY["switch_tight"].router == "switch" and PRESETS_BY_KEY["switch_tight"].top_k == 1
    assert float(PRESETS_BY_KEY["switch_tight"].capacity_factor) <= 1.0
    deepseek = PRESETS_BY_KEY["deepseek"]
    assert (deepseek.num_experts, deepseek.top_k, deepseek.router) == (64, 6, "sigmoid_bias")


LAB_SEEDS = range(4)


def _lab_max_mean_load(preset, seed: int) -> float:
    """The balance lab's final max/mean load for `preset` with the lab's default steps and learning rate."""
    cfg = TrainConfig(num_experts=preset.num_experts, top_k=preset.top_k, router=preset.router,
                      capacity_factor=capacity_value(preset.capacity_factor), balance_weight=preset.balance_weight,
                      seed=seed, device="cpu")
    return train(cfg).final()["max_mean_load"]


@pytest.mark.slow
def test_balanced_and_collapse_presets_do_what_they_say_in_the_lab():
    """Trained in the balance lab over several seeds, 'Balanced' ends near even load and 'Collapse' far from it
    (1.0 = every expert gets its even share)."""
    balanced = [_lab_max_mean_load(PRESETS_BY_KEY["balanced"], seed) for seed in LAB_SEEDS]
    collapse = [_lab_max_mean_load(PRESETS_BY_KEY["collapse"], seed) for seed in LAB_SEEDS]
    assert max(balanced) < 1.25, balanced
    assert min(collapse) > 2.0, collapse
