"""Views from a streamed dump (journeys, drops at a capacity, co-selection, logits) against plain numpy loops over
the fixture rows, for each format that carries per-token rows; count-only dumps say what they cannot show."""
import numpy as np
import pytest
import torch

from moeviz.eplb import balancedness, default_plan, plan_replicas
from moeviz.routes import summarize
from moeviz.routes import vllm as vllm_reader
from moeviz.routes import views
from tests.routes import fixtures as fx
from tests.routes.fixtures import E, K, L, T

START, W = 20, 24  # the window: tokens 20..43


def megatron_logits(seed=4):
    logits = np.random.default_rng(seed).normal(size=(T, L, E)).astype(np.float32)
    logits = torch.from_numpy(logits).to(torch.bfloat16).float().numpy()  # what bf16 keeps
    return logits, np.argsort(-logits, axis=2, kind="stable")[:, :, :K].astype(np.int32)


def read(fmt, ids, tmp_path, monkeypatch):
    """The fixture's routing written in `fmt` and read back with paths; returns (summary, logical ids)."""
    if fmt == "vllm":
        path = tmp_path / "routed_experts.npy"
        np.save(path, ids)
        monkeypatch.setattr(vllm_reader, "BLOCK_BYTES", 7 * L * K * 4)  # 7-token blocks: the window spans several
        return summarize(path, paths=True, window_start=START, window_tokens=W), ids
    if fmt == "sglang-per-token":
        physical, phy2log = fx.physical_layout(ids, E, redundant=2)
        data = fx.sglang_per_token(physical, phy2log, passes=3)
        return summarize(data, top_k=K, paths=True, window_start=START, window_tokens=W), ids
    logits, top = megatron_logits()
    trace, sidecar = fx.megatron_jsonl(top, steps=3, logits=logits)
    (tmp_path / "router_trace_rank0.jsonl").write_bytes(trace)
    (tmp_path / "logits_rank0.bin").write_bytes(sidecar)
    return summarize(tmp_path / "router_trace_rank0.jsonl", paths=True, window_start=START, window_tokens=W), top


FORMATS = ["vllm", "sglang-per-token", "megatron"]


def reference_ranks(rows: np.ndarray) -> np.ndarray:
    """(T, k): for each copy, how many copies of the same expert came before it in token order (a plain loop)."""
    seen = np.zeros(E, dtype=int)
    ranks = np.zeros(rows.shape, dtype=int)
    for t in range(rows.shape[0]):
        for j, e in enumerate(rows[t]):
            ranks[t, j] = seen[e]
        for e in rows[t]:
            seen[e] += 1
    return ranks


def reference_pairs(ids: np.ndarray, a: int, b: int) -> np.ndarray:
    counts = np.zeros((E, E), dtype=int)
    for t in range(ids.shape[0]):
        for i in ids[t, a]:
            for j in ids[t, b]:
                counts[i, j] += 1
    return counts


@pytest.mark.parametrize("fmt", FORMATS)
def test_journey_window_is_the_dump_rows(fmt, ids, tmp_path, monkeypatch):
    summary, logical = read(fmt, ids, tmp_path, monkeypatch)
    window = summary.window
    assert window.start == START and window.layers == list(range(L))
    np.testing.assert_array_equal(window.ids, logical[START:START + W])


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("cf", [0.75, 1.0, 1.5])
def test_drops_at_capacity_match_a_position_order_loop(fmt, cf, ids, tmp_path, monkeypatch):
    summary, logical = read(fmt, ids, tmp_path, monkeypatch)
    drops = views.capacity_drops(summary, cf)
    dropped = views.journey_dropped(summary.window, drops)
    for i, d in enumerate(drops):
        rows = logical[:, i].astype(int)
        C = int(np.ceil(cf * T * K / E))
        assert d.capacity == C
        ranks = reference_ranks(rows)
        lost = ranks >= C  # copy queued at or past its expert's C-th slot
        np.testing.assert_array_equal(d.dropped, np.bincount(rows[lost], minlength=E))
        np.testing.assert_array_equal(dropped[:, i], lost[START:START + W])
    if cf < 1:  # below an even share some expert overflows, and some of it inside the window
        assert dropped.any()
    table = views.dropped_copies(summary.window, drops)
    assert len(table) == int(dropped.sum())


@pytest.mark.parametrize("fmt", FORMATS)
def test_co_selection_matches_a_loop_over_token_rows(fmt, ids, tmp_path, monkeypatch):
    summary, logical = read(fmt, ids, tmp_path, monkeypatch)
    assert sorted(summary.pairs) == [(l, l + 1) for l in range(L - 1)]
    for (a, b), pair in summary.pairs.items():
        expected = reference_pairs(logical, a, b)
        np.testing.assert_array_equal(pair.counts, expected)
        chose = np.bincount(logical[:, a].ravel(), minlength=E)
        share = views.co_selection_share(pair)
        np.testing.assert_allclose(share, expected / np.maximum(chose, 1)[:, None])
        np.testing.assert_allclose(share.sum(axis=1)[chose > 0], K)  # every pair of the token's experts counts


def test_megatron_logits_give_probabilities_and_a_what_if(tmp_path, monkeypatch, ids):
    summary, top = read("megatron", ids, tmp_path, monkeypatch)
    logits, _ = megatron_logits()
    assert "router probabilities and what-if" not in views.missing_views(summary)
    for layer in range(L):
        np.testing.assert_array_equal(summary.window.logits[layer], logits[START:START + W, layer])
        torch.testing.assert_close(torch.from_numpy(views.window_probs(summary.window, layer)),
                                   torch.softmax(torch.from_numpy(logits[START:START + W, layer]), dim=-1))
    # Mixtral's rule without a capacity limit picks the dump's own top-k from the same logits
    w = views.window_what_if(summary.window, 2, "softmax_topk_norm", None)
    torch.testing.assert_close(w.trace.topk_indices, torch.from_numpy(top[START:START + W, 2]).long())
    assert views.changed_tokens(summary.window, 2, w.trace.topk_indices, ~w.trace.dropped) == 0
    s = views.window_what_if(summary.window, 2, "switch", 1.0)
    assert s.trace.capacity == int(np.ceil(1.0 * W * 1 / E))
    assert views.changed_tokens(summary.window, 2, s.trace.topk_indices, ~s.trace.dropped) == W  # k 2 -> 1


def test_moeviz_trace_carries_logits_and_pairs_whole_layers():
    data, traces = fx.moeviz_trace(T, E, K, layers=(1, 3))
    summary = summarize(data, paths=True, window_start=START, window_tokens=W)
    journey = np.stack([t.topk_indices.numpy() for t in traces], axis=1)
    np.testing.assert_array_equal(summary.window.ids, journey[START:START + W])
    np.testing.assert_array_equal(summary.pairs[(1, 3)].counts, reference_pairs(journey, 0, 1))
    torch.testing.assert_close(torch.from_numpy(views.window_probs(summary.window, 3)),
                               traces[1].router_probs[START:START + W])  # OLMoE-style softmax router


def test_count_only_dump_says_what_it_cannot_show():
    logical = np.random.default_rng(3).integers(0, 50, size=(5, L, E))
    summary = summarize(fx.sglang_stat(logical), paths=True)
    assert summary.window is None and not summary.pairs
    missing = views.missing_views(summary)
    assert {"token journeys", "co-selection", "drops at a capacity",
            "router probabilities and what-if"} <= set(missing)
    assert "a dump of every token" in missing["token journeys"] and "(SGLang recorder)" in missing["token journeys"]
    with_k = summarize(fx.sglang_stat(logical), top_k=K, paths=True)
    assert "drops at a capacity" not in views.missing_views(with_k)
    total = logical.sum(axis=0)
    for d in views.capacity_drops(with_k, 1.0):  # counts decide how many are dropped: max(0, load - C)
        C = int(np.ceil(total[d.layer].sum() // K * K / E))
        np.testing.assert_array_equal(d.dropped, np.maximum(total[d.layer] - C, 0))


def test_window_past_the_end_is_empty_and_paths_are_optional(ids):
    assert summarize(fx.npy_bytes(ids), paths=True, window_start=T + 5).window.num_tokens == 0
    assert summarize(fx.npy_bytes(ids), paths=True, window_start=T - 3).window.num_tokens == 3
    plain = summarize(fx.npy_bytes(ids))
    assert plain.window is None and not plain.pairs


def test_layer_table_measures(ids):
    summary = summarize(fx.npy_bytes(ids))
    for row, s in zip(views.layer_table(summary, gpus=4, replicas=4), summary.layers):
        load = np.array(s.tokens_per_expert, dtype=float)
        per_gpu = load.reshape(4, -1).sum(axis=1)  # experts in blocks of E/G per GPU
        assert row["max/mean per expert"] == round(load.max() / load.mean(), 3)
        assert row["balancedness, 4 GPUs"] == round(per_gpu.mean() / per_gpu.max(), 3)
        assert row["with 4 replicas"] >= row["balancedness, 4 GPUs"]
        placed = plan_replicas(load, 0, 4).gpu_load(load)  # EPLB moving whole experts, no replica
        assert row["EPLB placing only"] == round(balancedness(placed), 3)
        np.testing.assert_allclose(default_plan(E, 4).gpu_load(load), per_gpu)



def test_load_share_is_each_layers_share_and_zero_for_an_empty_layer():
    from moeviz.routes.record import LayerSummary, Summary
    summary = Summary("moeviz", [LayerSummary(0, 4, 2, [6, 2, 0]), LayerSummary(1, 0, 2, [0, 0, 0])])
    share = summary.load_share()
    np.testing.assert_allclose(share[0], np.array([6, 2, 0]) / 8)  # the plain division
    np.testing.assert_array_equal(share[1], np.zeros(3))  # no NaN for a layer without copies
