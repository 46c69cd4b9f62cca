"""The expert-parallel engine on real gloo workers against the single-process layer, and the pool's clean-up."""
import multiprocessing
import os
import time

import pytest
import torch

from moeviz import MoEConfig, MoELayer
from moeviz.parallel import WorkerError, current_pool, run_expert_parallel, shutdown_pool, skewed_tokens
from moeviz.parallel.engine import expert_owner, local_group_reference, owner_starts, unsupported_reason

pytestmark = pytest.mark.timeout(240)  # a hung worker fails the test instead of hanging CI


def _cfg(**overrides):
    return MoEConfig(**{**dict(d_model=16, d_hidden=24, num_experts=6, top_k=2, device="cpu", seed=5), **overrides})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A reaped child is gone; an unreaped zombie would still answer kill(0), so also check /proc's state.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _our_workers() -> list:
    return [p for p in multiprocessing.active_children() if p.name.startswith("moeviz-ep-")]


@pytest.fixture(scope="module", autouse=True)
def _no_pool_left():
    yield
    shutdown_pool()


def test_owner_blocks_cover_every_expert_once():
    assert owner_starts(8, 2).tolist() == [0, 4]
    assert expert_owner(torch.arange(7), 7, 3).tolist() == [0, 0, 1, 1, 2, 2, 2]  # starts 0, 2, 4
    with pytest.raises(ValueError, match="at least 4 experts"):
        owner_starts(3, 4)


@pytest.mark.parametrize("router", ["softmax_topk", "topk_softmax", "sigmoid_bias"])
def test_two_workers_match_the_single_process_layer(router):
    cfg = _cfg(router=router)
    layer = MoELayer(cfg).eval()
    x = torch.randn(37, cfg.d_model, generator=torch.Generator().manual_seed(1))  # uneven split on purpose
    run = run_expert_parallel(cfg, x, world_size=2, timeout_s=120)
    with torch.inference_mode():
        y, trace = layer(x)
    torch.testing.assert_close(run.output, y, rtol=1e-5, atol=1e-6)
    rows = [w["rows_received"] for w in run.workers]
    owned = [trace.tokens_per_expert[:3].sum().item(), trace.tokens_per_expert[3:].sum().item()]
    assert rows == owned  # each worker computed exactly the copies routed to its experts
    assert sum(w["tokens_local"] for w in run.workers) == 37
    assert run.step_ms == max(w["step_ms"] for w in run.workers)


def test_pool_is_reused_across_calls_and_bytes_are_symmetric():
    cfg = _cfg()
    x = torch.randn(20, cfg.d_model, generator=torch.Generator().manual_seed(2))
    run_expert_parallel(cfg, x, world_size=2)
    pids = current_pool().pids
    second = run_expert_parallel(cfg, x, world_size=2)
    assert current_pool().pids == pids and second.pool_start_s == 0.0  # no new processes for a rerun
    a, b = second.workers
    assert a["bytes_sent"] == b["bytes_received"] and b["bytes_sent"] == a["bytes_received"]
    row_bytes = cfg.d_model * 4
    # worker 0 sends the rows worker 1's experts need (with ids), and returns worker 1's rows it computed
    assert a["bytes_sent"] == b["rows_from_others"] * (row_bytes + 8) + a["rows_from_others"] * row_bytes + 8


def test_skew_loads_worker_zero():
    cfg = _cfg(num_experts=8)
    layer = MoELayer(cfg).eval()
    x = skewed_tokens(layer, 64, 1.0, seed=0, world_size=2)
    run = run_expert_parallel(cfg, x, world_size=2)
    torch.testing.assert_close(run.output, layer(x)[0], rtol=1e-5, atol=1e-6)
    assert run.workers[0]["rows_received"] > 3 * run.workers[1]["rows_received"]


def test_shutdown_reaps_every_worker():
    cfg = _cfg()
    run_expert_parallel(cfg, torch.randn(8, cfg.d_model), world_size=2)
    pids = current_pool().pids
    assert len(pids) == 2 and all(_alive(p) for p in pids)
    shutdown_pool()
    assert current_pool() is None
    assert not _our_workers()
    assert not any(_alive(p) for p in pids)


def test_a_worker_that_dies_tears_the_pool_down_with_a_clear_error():
    cfg = _cfg()
    x = torch.randn(8, cfg.d_model)
    run_expert_parallel(cfg, x, world_size=2)
    pids = current_pool().pids
    started = time.monotonic()
    with pytest.raises(WorkerError, match="died"):
        run_expert_parallel(cfg, x, world_size=2, fail_rank=1)
    assert time.monotonic() - started < 30  # noticed promptly, not after the collective timeout
    assert current_pool() is None and not _our_workers()
    assert not any(_alive(p) for p in pids)  # the surviving worker, stuck in all_to_all, was killed too
    recovered = run_expert_parallel(cfg, x, world_size=2)  # the next call starts a fresh pool
    torch.testing.assert_close(recovered.output, MoELayer(cfg).eval()(x)[0], rtol=1e-5, atol=1e-6)


def test_unsupported_configs_say_why_before_starting_workers():
    assert "expert choice" in unsupported_reason(_cfg(router="expert_choice"))
    assert unsupported_reason(_cfg()) is None and unsupported_reason(_cfg(capacity_factor=1.0)) is None
    with pytest.raises(ValueError, match="expert choice"):
        run_expert_parallel(_cfg(router="expert_choice"), torch.randn(4, 16), world_size=2)


@pytest.mark.parametrize("overrides", [dict(capacity_factor=0.75), dict(router="switch", top_k=1),
                                       dict(capacity_factor=0.5, drop_policy="weight"),
                                       dict(capacity_factor=0.5, drop_policy="priority")],
                         ids=["top2-cf0.75", "switch", "cf0.5-by-weight", "cf0.5-by-priority"])
def test_capacity_is_applied_per_worker_group_like_gshard(overrides):
    cfg = _cfg(**overrides)
    layer = MoELayer(cfg).eval()
    x = torch.randn(37, cfg.d_model, generator=torch.Generator().manual_seed(2))
    run = run_expert_parallel(cfg, x, world_size=2, timeout_s=120)
    # The reference, built by hand: the single-process layer on each worker's shard (its capacity group).
    shards = torch.tensor_split(x, 2)
    with torch.inference_mode():
        traces = [layer(shard)[1] for shard in shards]
    torch.testing.assert_close(run.output, torch.cat([t.output for t in traces]), rtol=1e-5, atol=1e-6)
    assert [w["slots_dropped"] for w in run.workers] == [int(t.dropped.sum()) for t in traces]
    assert sum(w["slots_dropped"] for w in run.workers) > 0  # the limit really bit
    computed = sum(w["rows_received"] for w in run.workers)
    assert computed == sum(int((~t.dropped).sum()) for t in traces)  # dropped copies are never sent
    y, dropped = local_group_reference(layer, x, 2)
    torch.testing.assert_close(y, run.output, rtol=1e-5, atol=1e-6)
    assert dropped == sum(int(t.dropped.sum()) for t in traces) / (37 * cfg.top_k)


def test_demo_keeps_capacity_and_switch_and_replaces_only_expert_choice():
    from moeviz.parallel.demo import demo_config
    for cfg in (_cfg(capacity_factor=1.0), _cfg(router="switch", top_k=1)):
        assert demo_config(cfg) == (cfg, None)
    replaced, note = demo_config(_cfg(router="expert_choice", capacity_factor=1.0))
    assert replaced.router == "softmax_topk" and unsupported_reason(replaced) is None and "expert choice" in note
