import pytest

from moeviz import MoEConfig
from moeviz.config import ROUTERS


@pytest.mark.parametrize("changes, words", [
    (dict(top_k=9, num_experts=8), "top_k=9 is larger than num_experts=8"),
    (dict(top_k=0), "top_k must be at least 1"),
    (dict(num_experts=0, top_k=1), "num_experts must be at least 1"),
    (dict(capacity_factor=-1.0), "capacity_factor must be a positive number"),
    (dict(capacity_factor=float("nan")), "capacity_factor must be a positive number"),
    (dict(router="bogus"), "unknown router 'bogus'"),
    (dict(router="switch", top_k=2), "set top_k=1"),
    (dict(drop_policy="random"), "unknown drop_policy"),
    (dict(activation="tanh"), "unknown activation"),
    (dict(d_model=3.5), "d_model must be an integer"),
    (dict(seed=-1), "seed must be a non-negative integer"),
    (dict(device="tpu"), "unknown device"),
])
def test_bad_config_raises_helpful_value_error(changes, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        MoEConfig(**changes)


def test_config_is_frozen_and_hashable():
    a, b = MoEConfig(num_experts=4, top_k=1), MoEConfig(num_experts=4, top_k=1)
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    with pytest.raises(AttributeError):
        a.top_k = 2  # type: ignore[misc]


def test_replace_revalidates():
    cfg = MoEConfig(num_experts=4, top_k=2)
    assert cfg.replace(top_k=3).top_k == 3
    with pytest.raises(ValueError):
        cfg.replace(top_k=5)


@pytest.mark.parametrize("cf, T, k, N", [(1.0, 64, 2, 8), (1.25, 10, 1, 4), (0.5, 7, 2, 3), (2.0, 1, 1, 64)])
def test_capacity_formula(cf, T, k, N):
    import math
    cfg = MoEConfig(num_experts=N, top_k=k, capacity_factor=cf)
    assert cfg.capacity(T) == max(1, math.ceil(cf * T * k / N))


def test_capacity_defaults_per_router():
    assert MoEConfig().capacity(100) is None
    assert MoEConfig(router="switch", top_k=1).effective_capacity_factor == 1.25
    assert MoEConfig(router="expert_choice").effective_capacity_factor == 1.0
    assert set(ROUTERS) >= {"softmax_topk", "topk_softmax", "sigmoid_bias", "noisy_topk", "switch", "expert_choice"}
