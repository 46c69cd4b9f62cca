"""/balance's explanation describes the run that was made: its paragraphs follow the run's own final numbers."""
import functools

import pytest

from moeviz.app.balance_text import (BALANCED_LOAD, COLLAPSED_LOAD, explain_price, explain_run, explain_z_loss,
                                     verdict)
from moeviz.train import TrainConfig, train_iter


@functools.lru_cache(maxsize=None)  # several tests read the same seeded runs (read-only): train each once
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


@pytest.mark.parametrize("capacity_factor", [None, pytest.param(1.25, marks=pytest.mark.slow)])
def test_the_price_text_says_why_a_small_weight_ends_with_the_lower_task_loss(capacity_factor):
    """The newcomer's puzzle: the default α = 0.01 ended with a lower task loss than the "good" α = 0.3. The text,
    built from the real runs, calls it the trade-off and says where the uneven load is paid."""
    weights = (0.0, 0.01, 0.3) + ((10.0,) if capacity_factor is None else ())
    rows = [final_run(balance_weight=w, capacity_factor=capacity_factor)[0] for w in weights]
    small, good = rows[1], rows[2]
    text = explain_price(rows, capacity_factor)
    assert f"**{rows[0]['max_mean_load']:.2f}×** the mean load" in text  # α = 0's collapse, quoted
    puzzle = small["task_loss"] < good["task_loss"] and small["max_mean_load"] > good["max_mean_load"]
    assert ("no contradiction" in text) == puzzle
    if capacity_factor is None:
        assert puzzle  # what the page shows at its default, seed 0
        assert f"({small['task_loss']:.3f} against {good['task_loss']:.3f})" in text
        assert f"**{small['overflow_at_1_25']:.1%}** of all token copies" in text
        loads = [f"{r['max_mean_load']:.2f}" for r in rows[1:]]
        assert ("the mean load while the task loss rises" in text) == (
            loads == sorted(loads, reverse=True) and [r["task_loss"] for r in rows[1:]] == sorted(
                r["task_loss"] for r in rows[1:]))
    else:  # a capacity limit turns the uneven load into drops, and the text quotes them
        assert f"**{small['dropped_fraction']:.1%}** at α = 0.01" in text
        assert ("the task loss counts them" in text) == (small["task_loss"] > good["task_loss"])


def z_pair_summaries(weight: float):
    from moeviz.train import train
    runs = [train(TrainConfig(steps=150, balance_weight=0.01, z_loss_weight=w)) for w in (0.0, weight)]
    return [{**h.final(), **h.logit_summary()} for h in runs]


def test_the_z_loss_words_quote_the_pairs_numbers_and_say_what_moved():
    plain, penalised = z_pair_summaries(0.01)
    text = explain_z_loss(plain, penalised, 0.01, 150)
    for f in (plain, penalised):
        assert f"**{f['z_loss']:.3g}**" in text and f"**{f['max_logit']:.2f}**" in text
    assert penalised["z_loss"] < plain["z_loss"] and penalised["max_logit"] < plain["max_logit"]
    rose = penalised["mean_abs_logit"] >= plain["mean_abs_logit"]
    assert ("*larger*, not smaller" in text) == rose
    # which runs and which steps the two sizes come from (a reader saw "rose, 1.50 → 1.92" and asked: when?), as
    # a comparison of the two runs, not a change over time (a later reader read "rose … from … to" as one)
    sizes = f"is {plain['mean_abs_logit']:.2f} without the z-loss and {penalised['mean_abs_logit']:.2f} with it"
    assert sizes in text and f"Averaged over the last {plain['window_steps']} steps of each run" in text
    # a pair in which the penalty did not act is not told that it did
    assert "did not pull the log-sum-exp down" in explain_z_loss(penalised, plain, 0.01, 150)


def test_alpha_0_says_where_its_load_started():
    """Before: α = 0 ended at 3.04× while the run's step 1 read 3.92×, and nothing said why a run with no push
    towards even had eased. Now the bullet gives the start, from the same run, and what moved it."""
    rows = [final_run(balance_weight=w)[0] for w in (0.0, 0.01, 0.3)]
    none = rows[0]
    text = explain_price(rows)
    assert abs(none["first_max_mean_load"] - none["max_mean_load"]) >= 0.1  # the seeded default does ease
    assert f"it started at {none['first_max_mean_load']:.2f}× at step 1" in text
    assert f"over its last {none['window_steps']} steps" in text and "task's own gradient" in text


def test_run_words_use_the_apps_names_not_the_codes():
    from moeviz.app.balance_text import run_words
    f, cfg = final_run(balance_weight=0.3)
    assert run_words(cfg) == "router softmax → top-k, 8 experts, k = 2, the balance loss, α = 0.3"
    assert "aux-loss-free bias" in run_words({**cfg, "router": "sigmoid_bias", "method": "aux_free"})


@pytest.mark.parametrize("num_experts", [4, 8, 16])
def test_the_router_entropy_words_give_ln_n_for_the_runs_n(num_experts):
    import math
    from moeviz.app.balance_text import router_entropy_words
    words = router_entropy_words(num_experts)
    assert f"at most ln N ≈ {math.log(num_experts):.2f} for N = {num_experts}" in words


def test_the_no_drops_words_quote_the_cost_paragraphs_overflow():
    from moeviz.app.balance_text import no_drops_words
    f, cfg = final_run(balance_weight=0.0)
    assert f"would overflow {f['overflow_at_1_25']:.1%} of its token copies" in no_drops_words(f)
    assert f"**{f['overflow_at_1_25']:.1%}** of all token copies" in explain_run(f, cfg)  # the same number


def test_the_capacity_formula_says_what_each_symbol_is():
    """A newcomer met C = ⌈cf · T · k / N⌉ with T never defined."""
    f, cfg = final_run(balance_weight=0.0)
    text = explain_run(f, cfg)
    assert "C = ceil(cf · T · k / N)" in text
    formula_on = text[text.index("C = ceil(cf · T · k / N)"):]
    for symbol in ("T = the tokens in the batch", "k copies", "N = the number of experts",
                   "cf = the capacity factor", "ceil rounds up"):
        assert symbol in formula_on[:250], symbol


@pytest.mark.parametrize("top_k, capacity_factor", [(1, None), (2, None), (2, 1.0), (4, None)])
def test_the_cluster_maps_words_give_the_largest_share_a_cell_can_hold(top_k, capacity_factor):
    """The map's rows are a cluster's token copies, so with k = 2 no cell passes 50 %: a newcomer, seeing none
    above 50 %, read it as every cluster split in two. The bound the words give holds on a trained map."""
    from moeviz.app.balance_text import cluster_map_words
    from moeviz.figures.balance import cluster_shares
    from moeviz.train import train
    cfg = TrainConfig(steps=30, tokens_per_step=64, num_experts=8, top_k=top_k, capacity_factor=capacity_factor,
                      balance_weight=0.0, device="cpu")
    history = train(cfg)
    words = cluster_map_words(history.config)
    assert "token copies" in words and "k = %d" % top_k in words
    assert ("Dropped copies are not counted" in words) == (capacity_factor is not None)
    if top_k > 1:
        assert f"at most 1/{top_k} = {1 / top_k:.0%}" in words
    if capacity_factor is None:  # with drops a row counts the kept copies only, and a cell can pass 1/k
        assert cluster_shares(history).max() <= 1 / top_k + 1e-9


def test_the_cluster_map_words_for_expert_choice_promise_no_bound():
    from moeviz.app.balance_text import cluster_map_words
    words = cluster_map_words({"router": "expert_choice", "top_k": 2, "capacity_factor": None})
    assert "experts pick the tokens" in words and "at most" not in words


def test_the_cost_paragraph_spells_out_what_a_newcomer_cannot_know():
    """"HF Mixtral" and a bare "fixed capacity (Switch, GShard)" stood unexplained in the second read."""
    f, cfg = final_run(balance_weight=0.0)
    text = explain_run(f, cfg)
    assert "HF " not in text and "Hugging Face transformers" in text
    assert "glossary#capacity-factor" in text and "Google's Switch Transformer" in text


def test_the_sidebar_alpha_is_said_to_add_one_row_to_fixed_ones():
    """Before: "Pick α in the sidebar: the table and the results further down train it at once" read as if every
    row followed α, and nothing said whether Training steps and Learning rate act on the table."""
    from moeviz.app.balance_page import DEFAULT_LR, DEFAULT_STEPS, PRICE_WEIGHTS
    from moeviz.app.balance_text import pick_alpha_words
    said = pick_alpha_words(PRICE_WEIGHTS, DEFAULT_STEPS, DEFAULT_LR)
    assert "rows α = 0, 0.3, 10 stay" in said and "*(sidebar)* follows your α" in said
    assert "always trains 300 steps at learning rate 0.01" in said and "not on the table" in said


def test_the_aux_free_caption_links_combine_weight_and_says_why_sigmoid():
    """Before: "router forced to sigmoid + bias" and "not in the combine weights" with no link and no reason."""
    from moeviz.app.balance_text import method_captions
    caption = method_captions(["aux_free"])[0]
    assert "[combine weights](glossary#combine-weight)" in caption
    assert "as in DeepSeek-V3, whose router scores each expert with its own sigmoid" in caption


def test_logsumexp_is_defined_where_the_z_loss_paragraph_first_uses_it():
    """Before: the paragraph used logsumexp(router logits)² and defined it only in the caption below the chart."""
    import inspect
    from moeviz.app import balance_page
    from moeviz.app.balance_text import LOGSUMEXP
    assert "ln Σ exp(logit)" in LOGSUMEXP and "a little above the largest logit" in LOGSUMEXP
    source = inspect.getsource(balance_page.z_loss)
    assert source.index("LOGSUMEXP") < source.index("log-sum-exp is near 0")


def test_the_precision_caption_says_what_its_delta_columns_are():
    """Before: the table's "max |Δ combine weight|" column was never explained."""
    from moeviz.app.balance_text import precision_words
    rows = [{"shift": 0, "changed_choice": 0.0}, {"shift": 64, "changed_choice": 0.2}]
    said = precision_words(rows)
    assert "**20%**" in said and "*max |Δ combine weight|* is the largest change of a combine weight" in said
    assert "between the exact and the bf16 run" in said


def test_the_closing_precision_paragraph_uses_plain_words():
    """Before: "dtype", "selective precision" as a bare name, "router-dtype setting" and a bare "fp64"."""
    from moeviz.app.balance_text import ROUTING_PRECISION
    assert "dtype" not in ROUTING_PRECISION and "“selective precision”" not in ROUTING_PRECISION
    assert "fp64 (64-bit numbers" in ROUTING_PRECISION and "number format the rest of the model runs in" in ROUTING_PRECISION
    assert "only the softmax in fp32" in ROUTING_PRECISION and "GPT-OSS does both in bf16" in ROUTING_PRECISION


def test_the_global_batch_is_defined_next_to_the_micro_batch():
    from moeviz.app.balance_text import WHY_ALPHA_IS_LARGE
    assert "per [micro-batch](glossary#micro-batch-and-global-batch)" in WHY_ALPHA_IS_LARGE
    assert "the global batch, all the micro-batches of one training step together" in WHY_ALPHA_IS_LARGE
