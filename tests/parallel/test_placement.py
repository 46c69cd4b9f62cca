"""Devices a token's experts span, with and without DeepSeek's device limit, against naive set counts."""
import torch

from moeviz import MoEConfig, MoELayer
from moeviz.parallel.placement import device_limit_demo, devices_spanned


def test_devices_spanned_counts_distinct_owners():
    topk = torch.tensor([[0, 1, 2], [0, 4, 7], [6, 7, 5]])
    expected = [len({e // 2 for e in row}) for row in topk.tolist()]  # 8 experts on 4 devices
    assert devices_spanned(topk, 8, 4).tolist() == expected


def test_the_limit_keeps_every_token_within_m_devices_and_free_routing_matches_the_layer():
    cfg = MoEConfig(d_model=16, d_hidden=8, num_experts=16, top_k=4, device="cpu", seed=4)
    span = device_limit_demo(cfg, 64, 9, num_devices=8, max_devices=2)
    assert sum(span.free) == sum(span.limited) == 64
    assert all(n == 0 for n in span.limited[2:])  # nobody on more than M = 2 devices
    x = torch.randn(64, 16, generator=torch.Generator().manual_seed(9))
    free_cfg = cfg.replace(router="sigmoid_bias")
    chosen = MoELayer(free_cfg).eval()(x)[1].topk_indices.tolist()
    naive = [len({e // 2 for e in row}) for row in chosen]
    assert span.free == [naive.count(m) for m in range(1, 5)]  # k = 4 experts reach at most 4 of the 8 devices
    assert span.mean(span.limited) <= 2 < span.mean(span.free)


def test_the_default_layout_is_one_where_the_limit_acts():
    """Before: N = 8 on W = 8 devices, one expert each: a token's 2 experts span 2 devices whatever M allows."""
    from moeviz.parallel.placement import default_span, limit_can_act, limit_options
    for n, k in ((8, 2), (16, 4), (64, 6), (32, 4), (4, 2)):
        devices = [w for w in (2, 4, 8, 16) if w <= n and n % w == 0]
        w, m = default_span(n, k, devices)
        assert m in limit_options(n, k, w) and limit_can_act(k, w, m)
        span = device_limit_demo(MoEConfig(num_experts=n, top_k=k, device="cpu"), 128, 1, w, m)
        assert span.mean(span.limited) <= m < span.mean(span.free)
    assert not limit_can_act(2, 8, 2) and not limit_can_act(1, 8, 1)  # M >= min(k, W): nothing to limit


def test_the_histograms_stop_at_the_most_devices_k_experts_can_reach():
    """Before: N = 8, k = 2 on W = 4 drew bars for 3 and 4 devices, which no token with 2 experts can span."""
    from moeviz.parallel.placement import limit_options
    for k, w in ((2, 4), (4, 2), (3, 8)):
        m = limit_options(8, k, w)[0]
        span = device_limit_demo(MoEConfig(num_experts=8, top_k=k, device="cpu"), 64, 1, w, m)
        assert len(span.free) == len(span.limited) == min(k, w)
        assert sum(span.free) == sum(span.limited) == 64
