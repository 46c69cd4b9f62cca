"""Property-based: random valid configs and inputs never give NaN or an unexpected exception."""
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moeviz import MoEConfig, MoELayer
from moeviz.config import ACTIVATIONS, DROP_POLICIES, ROUTERS


@st.composite
def configs(draw):
    router = draw(st.sampled_from(ROUTERS))
    num_experts = draw(st.integers(1, 12))
    top_k = MoEConfig.routed_top_k(router, draw(st.integers(1, num_experts)))
    return MoEConfig(
        d_model=draw(st.integers(1, 16)), d_hidden=draw(st.integers(1, 16)), num_experts=num_experts,
        top_k=top_k, router=router, norm_topk_prob=draw(st.booleans()),
        capacity_factor=draw(st.one_of(st.none(), st.floats(0.05, 4.0))),
        drop_policy=draw(st.sampled_from(DROP_POLICIES)), shared_expert=draw(st.booleans()),
        activation=draw(st.sampled_from(ACTIVATIONS)), device="cpu", seed=draw(st.integers(0, 2**16)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=configs(), num_tokens=st.integers(1, 40), scale=st.sampled_from([0.0, 1e-3, 1.0, 50.0]),
       training=st.booleans(), data_seed=st.integers(0, 1000))
def test_random_configs_route_sanely(cfg, num_tokens, scale, training, data_seed):
    layer = MoELayer(cfg).train(training)
    x = torch.randn(num_tokens, cfg.d_model, generator=torch.Generator().manual_seed(data_seed)) * scale
    y, tr = layer(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    for t in (tr.router_probs, tr.topk_weights, tr.balance_loss, tr.z_loss, tr.cv_loss):
        assert torch.isfinite(t).all()
    K = tr.topk_indices.shape[1]
    assert int(tr.tokens_per_expert.sum()) == num_tokens * K - int(tr.dropped.sum())
    assert all(v is None or v == v for v in tr.metrics.values() if isinstance(v, float))
    if not training:
        y_dense, _ = layer.dense_forward(x)
        torch.testing.assert_close(y, y_dense, rtol=1e-4, atol=1e-4)
