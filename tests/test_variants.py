"""Router variants side by side: same seed and tokens give the same router; each variant against a naive rule."""
import pytest
import torch
from torch.testing import assert_close

from moeviz import MoEConfig, MoELayer
from moeviz.variants import VARIANT_KEYS, VARIANTS, run_variants, token_changes, variant_summary
from tests.helpers import tokens

D, E, K = 12, 6, 2


def runs_for(x, **kwargs):
    return {run.variant.key: run for run in run_variants(x, num_experts=E, top_k=K, seed=3, **kwargs)}


@pytest.fixture(scope="module")
def x():
    return tokens(10, D, seed=1)


@pytest.fixture(scope="module")
def runs(x):
    return runs_for(x)


def naive_logits(x, seed=3):
    layer = MoELayer(MoEConfig(d_model=D, d_hidden=2 * D, num_experts=E, top_k=K, seed=seed, device="cpu"))
    return x @ layer.router.weight.detach().t()


def test_every_variant_runs_once_in_order(runs):
    assert tuple(runs) == VARIANT_KEYS == tuple(v.key for v in VARIANTS)
    assert len(set(v.model for v in VARIANTS)) == len(VARIANTS)


def test_same_seed_gives_the_same_router_logits(runs, x):
    reference = naive_logits(x)
    for key, run in runs.items():
        if key != "noisy_topk":  # its trace shows the logits after the training noise
            assert_close(run.trace.router_logits, reference, msg=key)


def test_softmax_variants_against_the_formula(runs, x):
    probs = torch.softmax(naive_logits(x), dim=-1)
    top = probs.topk(K, dim=-1)
    assert_close(runs["softmax_topk_norm"].trace.topk_weights, top.values / top.values.sum(-1, keepdim=True))
    assert_close(runs["softmax_topk_raw"].trace.topk_weights, top.values)  # not renormalised: sums below 1
    assert (runs["softmax_topk_raw"].trace.topk_weights.sum(-1) < 1).all()
    # top-k -> softmax has the same values as softmax -> top-k -> renormalise
    assert_close(runs["topk_softmax"].trace.topk_weights, runs["softmax_topk_norm"].trace.topk_weights)
    assert torch.equal(runs["topk_softmax"].trace.topk_indices, top.indices)


def test_no_capacity_means_exactly_k_experts_for_token_choice(runs):
    for key, run in runs.items():
        if key in ("switch", "expert_choice"):  # these always have a capacity (tested below)
            continue
        assert run.k == K
        assert run.experts_per_token.tolist() == [K] * 10, key
    assert runs["switch"].k == 1


def test_switch_and_expert_choice_counts_against_capacity(runs):
    sw = runs["switch"]
    C = sw.cfg.capacity(10)
    first = sw.trace.topk_indices[:, 0].tolist()
    seen, kept = {}, []
    for e in first:  # naive: position priority, an expert takes requests until it holds C
        seen[e] = seen.get(e, 0) + 1
        kept.append(int(seen[e] <= C))
    assert sw.experts_per_token.tolist() == kept
    ec = runs["expert_choice"]
    assert int(ec.experts_per_token.sum()) == E * min(ec.trace.capacity, 10)  # each expert picks C tokens
    assert ec.trace.tokens_per_expert.tolist() == [min(ec.trace.capacity, 10)] * E


def test_selection_bias_matches_a_naive_replay(x):
    steps, rate = 7, 0.05
    run = runs_for(x, bias_steps=steps, bias_rate=rate)["sigmoid_bias"]
    scores, bias = torch.sigmoid(naive_logits(x)), torch.zeros(E)
    for _ in range(steps):
        load = torch.zeros(E)
        for t in range(x.shape[0]):
            for e in (scores[t] + bias).topk(K).indices.tolist():
                load[e] += 1
        bias = bias + rate * torch.sign(load.mean() - load)
    assert_close(run.selection_bias, bias)
    chosen = (scores + bias).topk(K, dim=-1).indices
    assert torch.equal(run.trace.topk_indices, chosen)
    gates = scores.gather(1, chosen)
    assert_close(run.trace.topk_weights, gates / gates.sum(-1, keepdim=True))  # weights ignore the bias
    assert torch.count_nonzero(runs_for(x, bias_steps=0)["sigmoid_bias"].selection_bias) == 0


def test_noisy_topk_is_seeded_and_noisy(x, runs):
    again = runs_for(x)["noisy_topk"]
    assert_close(again.trace.router_logits, runs["noisy_topk"].trace.router_logits)
    assert not torch.allclose(runs["noisy_topk"].trace.router_logits, naive_logits(x))


def test_capacity_drops_show_as_fewer_than_k(x):
    tight = runs_for(x, capacity_factor=0.5)
    run = tight["softmax_topk_norm"]
    assert_close(run.experts_per_token, (~run.trace.dropped).sum(1))
    assert int(run.experts_per_token.sum()) <= E * run.trace.capacity
    rows = {r["variant"]: r for r in variant_summary(list(tight.values()))}
    row = rows[run.variant.label]
    assert row["tokens with fewer than k"] == int((run.experts_per_token < K).sum()) > 0
    assert row["tokens with no expert"] == int((run.experts_per_token == 0).sum())
    assert row["capacity"] == str(run.trace.capacity)
    unlimited = {r["variant"]: r for r in variant_summary(list(runs_for(x, capacity_factor=None).values()))}
    assert unlimited[run.variant.label]["capacity"] == "no limit"


def test_token_changes_lists_exactly_the_tokens_off_k(x):
    tight = list(runs_for(x, capacity_factor=0.5).values())
    labels = [f"w{i}" for i in range(10)]
    rows = token_changes(tight, labels)
    expected = {(r.variant.label, t) for r in tight for t, n in enumerate(r.experts_per_token.tolist()) if n != r.k}
    assert {(row["variant"], row["token"]) for row in rows} == expected
    assert all(row["text"] == labels[row["token"]] for row in rows)


def test_token_changes_say_who_chose_in_each_routers_words(x):
    tight = list(runs_for(x, capacity_factor=0.5).values())
    rows = token_changes(tight, [f"w{i}" for i in range(10)])
    routers = {r.variant.label: r.variant.router for r in tight}
    expert_choice = [row for row in rows if routers[row["variant"]] == "expert_choice"]
    token_choice = [row for row in rows if routers[row["variant"]] != "expert_choice"]
    assert expert_choice and token_choice
    assert not any("dropped" in row["what happened"] for row in expert_choice)
    assert all("picked it" in row["what happened"] for row in expert_choice)
    assert all("dropped at capacity" in row["what happened"] for row in token_choice if row["experts"] < row["k"])


# Noisy top-k on the shipped model's real router logits, as /variants shows it.
@pytest.fixture(scope="module")
def olmoe_logits():
    from moeviz.hf.folders import SHIPPED_DIR
    from moeviz.hf.model import load_checkpoint
    from moeviz.text import DEFAULT_SENTENCE
    return load_checkpoint(SHIPPED_DIR / "olmoe-tiny", device="cpu").route(DEFAULT_SENTENCE).traces[0].router_logits


def noisy_reference(logits, seed):
    """Shazeer et al.'s H(x) = clean + N(0, 1) · (softplus(x · W_noise) + eps) with W_noise = 0, drawn by hand."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        noise = torch.randn(logits.shape)
    return logits + noise * (torch.nn.functional.softplus(torch.zeros(())) + 1e-2)


def expert_sets(topk_indices):
    return topk_indices.sort(dim=-1).values


def test_noisy_topk_on_real_logits_routes_with_the_training_noise(olmoe_logits):
    """/variants' default: the noisy rule must not pick exactly what top-k -> softmax picks (it did, noise off)."""
    from moeviz.hf.shipped import variants_on_logits
    from moeviz.variants import NOISE_SEED
    runs = {run.variant.key: run for run in variants_on_logits(olmoe_logits, 2)}
    noisy = noisy_reference(olmoe_logits, NOISE_SEED)
    assert_close(runs["noisy_topk"].trace.router_logits, noisy)
    assert torch.equal(expert_sets(runs["noisy_topk"].trace.topk_indices), expert_sets(noisy.topk(2, dim=-1).indices))
    clean = expert_sets(runs["topk_softmax"].trace.topk_indices)
    assert (expert_sets(runs["noisy_topk"].trace.topk_indices) != clean).any()


def test_noise_changes_count_the_tokens_each_draw_moves(olmoe_logits):
    from moeviz.variants import initial_noise_std, noise_changes
    shares = noise_changes(olmoe_logits, 2, draws=3)
    clean = expert_sets(olmoe_logits.topk(2, dim=-1).indices)
    naive = [float((expert_sets(noisy_reference(olmoe_logits, seed).topk(2, dim=-1).indices) != clean).any(-1)
                   .float().mean()) for seed in range(3)]
    assert shares == pytest.approx(naive) and min(shares) > 0
    assert initial_noise_std() == pytest.approx(float(torch.log(torch.tensor(2.0))) + 1e-2)


@pytest.mark.parametrize("router, renormalised", [("softmax_topk", True), ("softmax_topk", False),
                                                  ("topk_softmax", True), ("sigmoid_bias", True),
                                                  ("noisy_topk", True), ("switch", True), ("expert_choice", True)])
def test_own_variant_names_the_rule_that_made_a_trace(router, renormalised, x):
    """/heatmap's what-if starts at the model's own rule: the variant with the trace's router and renormalisation
    (read from the weights, as for a trace whose metrics do not say)."""
    from moeviz.variants import own_variant
    cfg = MoEConfig(d_model=D, d_hidden=2 * D, num_experts=E, top_k=MoEConfig.routed_top_k(router, K), router=router,
                    norm_topk_prob=renormalised, seed=3, device="cpu")
    _, trace = MoELayer(cfg).eval()(x)
    variant = next(v for v in VARIANTS if v.key == own_variant(trace))
    assert variant.router == router
    if router == "softmax_topk":
        assert variant.norm_topk_prob == renormalised


def test_own_variant_of_olmoe_tiny_is_its_unrenormalised_softmax(olmoe_logits):
    from moeviz.hf.folders import SHIPPED_DIR
    from moeviz.hf.model import load_checkpoint
    from moeviz.variants import own_variant
    trace = load_checkpoint(SHIPPED_DIR / "olmoe-tiny", device="cpu").route("Hello there.").traces[0]
    assert trace.metrics["norm_topk_prob"] is False and own_variant(trace) == "softmax_topk_raw"
