"""The balance lab's task, training loop and metrics.

The three lessons (collapse, balance, over-balance) and the aux-loss-free method are asserted on three seeds each,
so they are properties of the task, not of one lucky seed. Each 300-step run costs ~2 s of CPU, so the runs are
shared through a module-level cache.
"""
import math
from functools import lru_cache

import numpy as np
import pytest
import torch

from moeviz import MoEConfig, MoELayer
from moeviz.train import (LAB_PRESETS, PRESETS, SWEEP_WEIGHTS, ClusterTask, TaskSampler, TrainConfig, TrainHistory,
                          _record, mutual_information, overflow_at_capacity, preset, purity, specialization,
                          train, train_iter)

SEEDS = (0, 1, 2)


@lru_cache(maxsize=None)
def final(name: str, seed: int, **extra) -> dict:
    return train(preset(name, seed=seed, device="cpu", **extra)).final()


# --- the lesson, on several seeds -------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_weight_zero_collapses(seed):
    assert final("collapse", seed)["max_mean_load"] >= 2.0


@pytest.mark.parametrize("seed", SEEDS)
def test_moderate_weight_balances_and_learns(seed):
    balanced, collapsed = final("balanced", seed), final("collapse", seed)
    assert balanced["max_mean_load"] <= 1.3
    assert balanced["task_loss"] < collapsed["task_loss"]  # balance lets more experts learn: the task gains
    assert balanced["task_loss"] < 0.1  # from 1.0 (predicting zero)
    assert balanced["specialization"] > collapsed["specialization"] + 0.2


@pytest.mark.parametrize("seed", SEEDS)
def test_very_large_weight_balances_but_task_and_specialization_suffer(seed):
    over, balanced = final("overbalanced", seed), final("balanced", seed)
    assert over["max_mean_load"] <= 1.1
    assert over["task_loss"] > 1.3 * balanced["task_loss"]
    assert over["specialization"] < balanced["specialization"] - 0.05


@pytest.mark.parametrize("seed", SEEDS)
def test_aux_loss_free_bias_lowers_load_vs_no_balancing(seed):
    # Same router (sigmoid + bias) with the bias update switched off: it collapses; with it, the load evens out.
    unbalanced = final("collapse", seed, router="sigmoid_bias")
    aux_free = final("aux_free", seed)
    assert aux_free["max_mean_load"] < unbalanced["max_mean_load"] - 0.5
    assert aux_free["max_mean_load"] <= 1.3


# --- history fields and shapes ----------------------------------------------------------------------------------

def short_config(**changes) -> TrainConfig:
    return TrainConfig(**{"steps": 12, "tokens_per_step": 64, "device": "cpu", **changes})


def test_history_fields_and_shapes():
    cfg = short_config(num_experts=6, top_k=2, capacity_factor=1.0)
    h = train(cfg)
    S, E, C = 12, 6, cfg.task.num_clusters
    for name in TrainHistory.SCALARS:
        assert h.array(name).shape == (S,), name
        assert np.isfinite(h.array(name)).all(), name
    assert h.array("tokens_per_expert").shape == (S, E)
    assert h.array("cluster_expert").shape == (S, C, E)
    assert h.specialization().shape == (S,)
    # Active slots: T*k minus drops, counted both per expert and per (cluster, expert).
    kept = 64 * 2 * (1 - h.array("dropped_fraction"))
    np.testing.assert_allclose(h.array("tokens_per_expert").sum(axis=1), kept)
    np.testing.assert_allclose(h.array("cluster_expert").sum(axis=(1, 2)), kept)
    assert h.array("dropped_fraction").max() > 0  # cf = 1 with an untrained, skewed router must drop
    assert set(h.final()) >= {"task_loss", "max_mean_load", "load_cv", "specialization", "purity", "steps"}


def test_history_round_trips_through_plain_dict():
    h = train(short_config())
    data = h.to_dict()
    json_like = (list, dict, float, int, str, bool, type(None))
    assert all(isinstance(v, json_like) for v in data.values())
    again = TrainHistory.from_dict(data)
    assert again.final() == pytest.approx(h.final())


def test_train_iter_reports_every_n_steps_and_can_stop():
    seen = [h.steps_done for h in train_iter(short_config(steps=10), report_every=4)]
    assert seen == [4, 8, 10]
    calls = iter(range(100))
    h = list(train_iter(short_config(steps=10), report_every=100, should_stop=lambda: next(calls) >= 3))[-1]
    assert h.steps_done == 3 and h.stopped


def test_seeded_runs_repeat():
    a, b = train(short_config(seed=3)), train(short_config(seed=3))
    np.testing.assert_array_equal(a.array("tokens_per_expert"), b.array("tokens_per_expert"))
    np.testing.assert_allclose(a.array("task_loss"), b.array("task_loss"))


def test_training_never_mutates_a_passed_in_layer():
    cfg = short_config()
    layer = MoELayer(cfg.layer_config())
    before = {k: v.clone() for k, v in layer.state_dict().items()}
    trained = train(cfg, layer=layer)
    assert trained.array("task_loss")[-1] < trained.array("task_loss")[0]  # it did train (a copy)
    for k, v in layer.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    fresh = train(cfg)  # a passed-in layer with the same weights trains exactly like a fresh one
    np.testing.assert_allclose(trained.array("task_loss"), fresh.array("task_loss"))


def test_aux_free_updates_bias_and_requires_its_router():
    with pytest.raises(ValueError, match="sigmoid_bias"):
        TrainConfig(method="aux_free")
    with pytest.raises(ValueError):
        TrainConfig(method="nope")


# --- the task -----------------------------------------------------------------------------------------------------

def test_task_targets_follow_each_clusters_own_map():
    sampler = TaskSampler(ClusterTask(seed=1), torch.device("cpu"))
    x, y, clusters = sampler.sample(50)
    local = x - sampler.offset
    for t in range(50):  # naive per-token reference
        torch.testing.assert_close(y[t], sampler.maps[clusters[t]] @ local[t])


def test_task_cluster_frequencies_follow_zipf():
    task = ClusterTask(zipf=1.0, num_clusters=4)
    _, _, clusters = TaskSampler(task, torch.device("cpu")).sample(40_000)
    freq = np.bincount(clusters.numpy(), minlength=4) / 40_000
    expected = 1 / np.arange(1, 5)
    np.testing.assert_allclose(freq, expected / expected.sum(), atol=0.01)


def test_shared_offset_skews_the_untrained_router():
    # Why collapse shows up: with the offset, the first step's load is already far from even.
    with_shift = train(short_config(steps=1, tokens_per_step=512)).array("max_mean_load")[0]
    no_shift = train(short_config(steps=1, tokens_per_step=512, task=ClusterTask(shift=0.0))).array("max_mean_load")[0]
    assert with_shift > no_shift + 0.5


# --- metrics against hand-computed cases -----------------------------------------------------------------------

def test_mutual_information_hand_computed():
    # 2 clusters x 2 experts, each cluster entirely on its own expert: I = H(cluster) = log 2.
    assert mutual_information([[5, 0], [0, 5]]) == pytest.approx(math.log(2))
    # Independent: every cluster spread the same way over the experts: I = 0.
    assert mutual_information([[2, 6], [1, 3]]) == pytest.approx(0.0, abs=1e-12)
    # p = [[.5, 0], [.25, .25]]: I = .5 log(.5/(.5*.75)) + .25 log(.25/(.5*.75)) + .25 log(.25/(.5*.25))
    p = np.array([[2, 0], [1, 1]])
    expected = .5 * math.log(.5 / .375) + .25 * math.log(.25 / .375) + .25 * math.log(.25 / .125)
    assert mutual_information(p) == pytest.approx(expected)


def test_specialization_ceiling_with_top_k():
    # 4 clusters, 8 experts, k=2: cluster c on experts {2c, 2c+1}: the most the expert can say -> 1.
    table = np.zeros((4, 8))
    for c in range(4):
        table[c, 2 * c: 2 * c + 2] = 10
    log_k = math.log(2)  # every token keeps its 2 slots
    assert specialization(table, log_k) == pytest.approx(1.0)
    # Collapse: every cluster on experts 0 and 1 -> 0.
    collapsed = np.zeros((4, 8))
    collapsed[:, :2] = 10
    assert specialization(collapsed, log_k) == pytest.approx(0.0, abs=1e-12)
    assert specialization(np.zeros((4, 8)), log_k) == 0.0


def test_specialization_ceiling_after_drops():
    # k=2 but every token lost one slot (m = 1): cluster c alone on expert 2c is now possible, and it is the
    # most the expert can say -> 1, where the top-k ceiling log(E/k) would have reported log 8 / log 4 = 150%.
    table = np.zeros((4, 8))
    for c in range(4):
        table[c, 2 * c] = 10
    assert specialization(table, slot_entropy=0.0) == pytest.approx(1.0)


@pytest.mark.parametrize("changes", [dict(num_experts=3, top_k=2, capacity_factor=0.5),
                                     dict(num_experts=3, top_k=2, router="expert_choice", capacity_factor=0.5),
                                     dict(num_experts=6, top_k=2)])
def test_specialization_stays_in_range_with_drops_and_expert_choice(changes):
    h = train(short_config(steps=30, **changes))
    spec = h.specialization()
    assert ((spec >= 0) & (spec <= 1 + 1e-9)).all(), spec
    assert 0 <= h.final()["specialization"] <= 1 + 1e-9
    if "capacity_factor" not in changes:  # no drops: H(expert | token) is log k exactly
        np.testing.assert_allclose(h.array("slot_entropy"), math.log(2))


def test_slot_entropy_matches_a_naive_count():
    cfg = short_config(num_experts=4, top_k=2, capacity_factor=0.5)
    layer = MoELayer(cfg.layer_config())
    x = torch.randn(64, layer.cfg.d_model, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        _, trace = layer(x)
    slots = [int((~trace.dropped[t]).sum()) for t in range(64)]
    naive = sum(m * math.log(m) for m in slots if m) / sum(slots)
    h = TrainHistory(config={})
    _record(h, trace, torch.tensor(0.0), torch.zeros(64, dtype=torch.long), 1, 4)
    assert h.slot_entropy[0] == pytest.approx(naive)
    assert min(slots) < 2  # the case under test: some tokens lost a slot


def test_purity_hand_computed():
    # expert 0 gets 3 from c0 and 1 from c1 (main cluster 3), expert 1 gets 2 from c1 (main 2): (3+2)/6.
    assert purity([[3, 0], [1, 2]]) == pytest.approx(5 / 6)


def test_overflow_at_capacity_formula():
    # mean 4, cf 1.25 -> capacity 5: loads 10, 2, 2, 2 overflow 5 of 16 slots.
    assert overflow_at_capacity([10, 2, 2, 2], 1.25) == pytest.approx(5 / 16)
    assert overflow_at_capacity([4, 4, 4, 4], 1.0) == 0.0


def test_the_statistics_live_in_their_own_module_and_train_still_exports_them():
    import moeviz.routing_stats as stats
    import moeviz.hf.analysis as hf_analysis
    assert (mutual_information, specialization, purity, overflow_at_capacity) == (
        stats.mutual_information, stats.specialization, stats.purity, stats.overflow_at_capacity)
    assert hf_analysis.mutual_information is stats.mutual_information


def test_presets_and_sweep_weights_are_valid():
    assert PRESETS is LAB_PRESETS  # the old name still imports
    assert set(LAB_PRESETS) == {"collapse", "balanced", "overbalanced", "aux_free"}
    assert list(SWEEP_WEIGHTS) == sorted(SWEEP_WEIGHTS) and SWEEP_WEIGHTS[0] == 0.0
    for cfg in PRESETS.values():
        assert isinstance(cfg.layer_config(), MoEConfig)


def test_final_quotes_what_the_history_holds():
    h = train(preset("collapse", seed=0, device="cpu", steps=30))
    f, load = h.final(), h.array("tokens_per_expert")[h.window()].sum(axis=0)
    assert f["window_steps"] == 3
    assert f["idle_experts"] == sum(1 for v in load if v < 0.25 * load.mean())
    assert f["first_max_mean_load"] == pytest.approx(h.array("max_mean_load")[0])
    assert f["overflow_at_1_25"] == pytest.approx(overflow_at_capacity(load, 1.25))


def test_recorded_z_loss_and_logits_match_naive_loops_over_the_routers_logits():
    cfg = preset("balanced", steps=1, device="cpu")
    history = train(cfg)
    x, _, _ = next(TaskSampler(replace_seed(cfg.task, cfg.seed), torch.device("cpu")).batches(1, cfg.tokens_per_step))
    rows = (x @ MoELayer(cfg.layer_config()).router.weight.detach().t()).tolist()
    naive = sum(math.log(sum(math.exp(v) for v in row)) ** 2 for row in rows) / len(rows)
    assert history.z_loss[0] == pytest.approx(naive, rel=1e-5)
    assert history.max_logit[0] == pytest.approx(sum(max(row) for row in rows) / len(rows), rel=1e-5)
    mean_abs = sum(abs(v) for row in rows for v in row) / (len(rows) * len(rows[0]))
    assert history.mean_abs_logit[0] == pytest.approx(mean_abs, rel=1e-5)


def replace_seed(task, seed):
    from dataclasses import replace
    return replace(task, seed=seed)


@pytest.mark.parametrize("seed", SEEDS)
def test_training_with_z_loss_lowers_the_router_logsumexp(seed):
    runs = [train(preset("balanced", seed=seed, steps=150, device="cpu", z_loss_weight=w)) for w in (0.0, 0.1)]
    free, penalised = (float(np.mean(h.array("z_loss")[h.window()])) for h in runs)
    assert penalised < 0.5 * free
    assert runs[1].config["z_loss_weight"] == 0.1
    # ... by shifting the logits down, not by making them small: the largest logit falls, their size need not
    top, size = ([float(np.mean(h.array(key)[h.window()])) for h in runs] for key in ("max_logit", "mean_abs_logit"))
    assert top[1] < top[0]
    assert size[1] > 0.5 * size[0]


def test_logit_summary_averages_the_window_like_final():
    history = train(TrainConfig(steps=20, tokens_per_step=32, num_experts=4, device="cpu", z_loss_weight=0.01))
    summary = history.logit_summary()
    for name in ("z_loss", "max_logit", "mean_abs_logit"):
        values = getattr(history, name)[-2:]  # the window: the last 10 % of 20 steps
        assert summary[name] == pytest.approx(sum(values) / len(values))
    old = TrainHistory.from_dict({k: v for k, v in history.to_dict().items() if k != "max_logit"})
    assert np.isnan(old.logit_summary()["max_logit"])  # kept before the field: no number, not an error
