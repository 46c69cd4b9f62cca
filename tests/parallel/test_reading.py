"""moeviz.parallel.reading on a real two-worker step: the numbers the per-worker charts' sentences use."""
import pytest
import torch

from moeviz import MoEConfig, MoELayer
from moeviz.parallel import run_expert_parallel, shutdown_pool, skewed_tokens
from moeviz.parallel.engine import ID_BYTES, expert_owner
from moeviz.parallel.reading import worker_summary

pytestmark = pytest.mark.timeout(240)
CFG = MoEConfig(d_model=16, d_hidden=24, num_experts=6, top_k=2, device="cpu", seed=5)


@pytest.fixture(scope="module")
def skewed_run():
    layer = MoELayer(CFG).eval()
    x = skewed_tokens(layer, 64, 0.9, 1, 2)
    try:
        yield layer, x, run_expert_parallel(CFG, x, 2)
    finally:
        shutdown_pool()


def test_copies_split_into_own_and_from_others_as_the_routing_says(skewed_run):
    layer, x, run = skewed_run
    s = worker_summary(run.workers)
    with torch.inference_mode():
        chosen = layer(x)[1].topk_indices  # (T, K), no capacity: every copy is sent
    owner = expert_owner(chosen, CFG.num_experts, 2)  # (T, K) the worker each copy goes to
    sender = torch.arange(len(x)).div(len(x) // 2, rounding_mode="floor")[:, None].expand_as(owner)  # tensor_split
    for r in range(2):
        assert s["received"][r] == int((owner == r).sum())
        assert s["from_others"][r] == int(((owner == r) & (sender != r)).sum())
        assert s["own"][r] == int(((owner == r) & (sender == r)).sum())
    assert s["busiest"] == 0 and s["busiest_over_mean"] == pytest.approx(max(s["received"]) / (len(x) * 2 / 2))


def test_bytes_out_and_in_differ_only_by_the_expert_ids_however_uneven_the_copies(skewed_run):
    _, _, run = skewed_run
    s = worker_summary(run.workers)
    assert max(s["received"]) > 3 * min(s["received"])  # very uneven copies...
    for r, w in enumerate(run.workers):  # ...and yet each copy's row comes back as a result of the same size
        sent_to_other = s["from_others"][1 - r]  # two workers: what one sends, the other gets from others
        assert w["bytes_received"] - w["bytes_sent"] == (s["from_others"][r] - sent_to_other) * ID_BYTES


def test_the_phases_add_up_to_each_workers_step(skewed_run):
    _, _, run = skewed_run
    s = worker_summary(run.workers)
    for total, step in zip(s["phase_sum_ms"], s["step_ms"]):
        assert total == pytest.approx(step, rel=1e-6)
    assert s["least_wait_ms"] == min(w["wait_ms"] for w in run.workers)
