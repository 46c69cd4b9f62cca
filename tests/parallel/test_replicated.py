"""Replicated experts on real gloo workers: the output equals the single-process layer, each worker computes the
copies the placement sends it (a naive per-copy loop), and the EPLB plan evens out a skewed batch."""
import numpy as np
import pytest
import torch

from moeviz import MoEConfig, MoELayer
from moeviz.eplb import plan_replicas
from moeviz.parallel import run_expert_parallel, shutdown_pool, skewed_tokens
from moeviz.parallel.replica_demo import replica_config, replica_demo
from moeviz.parallel.replicated import check_placement, slot_layer

pytestmark = pytest.mark.timeout(240)
W = 2


@pytest.fixture(scope="module", autouse=True)
def _no_pool_left():
    yield
    shutdown_pool()


def naive_rows(topk_indices: torch.Tensor, phy2log: list[int]) -> list[int]:
    """Per worker, the copies it receives: each copy in turn, to replica (global position mod replicas)."""
    S, rows = len(phy2log) // W, [0] * W
    shards = torch.tensor_split(torch.arange(len(topk_indices)), W)
    for rank, shard in enumerate(shards):
        for t_local, t in enumerate(shard.tolist()):
            for e in topk_indices[t].tolist():
                replicas = [s for s, owner in enumerate(phy2log) if owner == e]
                slot = replicas[(t_local * W + rank) % len(replicas)]
                rows[slot // S] += 1
    return rows


@pytest.mark.slow  # starts a worker pool
def test_replicated_placement_matches_the_layer_and_the_naive_loop():
    cfg = MoEConfig(d_model=16, d_hidden=24, num_experts=6, top_k=2, device="cpu", seed=3)
    layer = MoELayer(cfg).eval()
    x = skewed_tokens(layer, 90, 0.8, 4, W)
    with torch.inference_mode():
        y, trace = layer(x)
    plan = plan_replicas(trace.tokens_per_expert.numpy(), replicas=2, gpus=W)
    placement = plan.phy2log.tolist()
    assert len(set(placement)) == 6 and len(placement) == 8
    for phy2log in (list(range(6)), placement):
        run = run_expert_parallel(cfg, x, W, placement=tuple(phy2log))
        torch.testing.assert_close(run.output, y, rtol=1e-4, atol=1e-5)
        assert [w["rows_received"] for w in run.workers] == naive_rows(trace.topk_indices, phy2log)
        assert [w["slots"] for w in run.workers] == [phy2log[:len(phy2log) // W], phy2log[len(phy2log) // W:]]


@pytest.mark.slow
def test_demo_evens_out_the_skewed_batch():
    cfg, note = replica_config(MoEConfig(d_model=32, d_hidden=48, num_experts=8, top_k=2, device="cpu", seed=0,
                                         capacity_factor=1.25))
    assert note and cfg.capacity_factor is None
    out = replica_demo(cfg, 512, 0.9, W, replicas=2, repeats=1)
    before, after = out["before"], out["after"]
    assert before["max_abs_diff"] < 1e-4 and after["max_abs_diff"] < 1e-4
    assert max(after["rows"]) < max(before["rows"])
    assert sum(after["rows"]) == sum(before["rows"]) == 512 * 2
    # the even split is what the planner assumed: rows land within one copy per replica of its GPU loads
    assert np.allclose(after["rows"], after["planned_rows"], atol=len(out["phy2log"]))


def test_a_placement_must_hold_every_expert():
    with pytest.raises(ValueError, match="every one of the 4 experts"):
        check_placement([0, 1, 2, 2], 4, 2)
    layer = MoELayer(MoEConfig(d_model=8, d_hidden=8, num_experts=4, top_k=2, device="cpu"))
    with pytest.raises(ValueError, match="multiple of 2 slots"):
        slot_layer(layer, [0, 1, 2, 3, 0], 0, 2)
    kept = slot_layer(layer, [0, 3, 3, 1, 2, 0], 1, 2)  # rank 1 holds slots 3..5: experts 1, 2, 0
    assert kept.experts.w_in.shape[0] == 3
