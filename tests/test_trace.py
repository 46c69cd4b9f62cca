import json

import pytest
import torch

from moeviz.config import ROUTERS
from moeviz.routers import router_spec
from moeviz.trace import TENSOR_FIELDS, RoutingTrace
from tests.helpers import make_layer, tokens

METRIC_KEYS = {"load_cv", "max_mean_load", "router_entropy", "dropped_fraction", "tokens_dropped_fraction",
               "expert_rows", "dense_expert_rows", "padding_rows", "active_flops_per_token",
               "dense_flops_per_token", "total_params", "active_params", "dispatch"}


@pytest.mark.parametrize("router", ROUTERS)
@pytest.mark.parametrize("shared", [False, True])
def test_every_field_has_its_documented_shape(router, shared):
    layer = make_layer(router, shared_expert=shared, capacity_factor=1.0)
    T, D, E = 13, 12, 6
    _, tr = layer(tokens(T))
    K = E if router_spec(router).experts_choose else tr.top_k
    shapes = {"input": (T, D), "router_logits": (T, E), "router_probs": (T, E), "selection_scores": (T, E),
              "topk_indices": (T, K), "routed_weights": (T, K), "topk_weights": (T, K), "dropped": (T, K),
              "expert_outputs": (T, K, D), "demand": (E,), "tokens_per_expert": (E,), "output": (T, D)}
    for name, shape in shapes.items():
        assert tuple(getattr(tr, name).shape) == shape, name
    assert tr.topk_indices.dtype == torch.int64 and tr.dropped.dtype == torch.bool
    assert tr.demand.dtype == torch.int64 and tr.tokens_per_expert.dtype == torch.int64
    assert (tr.shared_output is not None) == shared
    if shared:
        assert tr.shared_output.shape == (T, D)
    for name in ("balance_loss", "z_loss", "cv_loss"):
        assert getattr(tr, name).shape == ()
    assert METRIC_KEYS <= set(tr.metrics)
    assert set(shapes) | {"shared_output"} == set(TENSOR_FIELDS)


def test_to_dict_is_plain_json_with_every_field():
    _, tr = make_layer(shared_expert=True)(tokens(4))
    d = tr.to_dict()
    text = json.dumps(d)
    back = json.loads(text)
    for name in TENSOR_FIELDS:
        assert name in back
    assert back["topk_indices"] == tr.topk_indices.tolist()
    assert back["metrics"]["expert_rows"] == tr.metrics["expert_rows"]
    assert isinstance(back["balance_loss"], float)
    assert json.loads(tr.to_json()) == back


def test_trace_is_detached_but_losses_keep_grad():
    layer = make_layer().train()
    _, tr = layer(tokens(5))
    assert not tr.router_probs.requires_grad and not tr.output.requires_grad
    assert tr.balance_loss.requires_grad
    assert not tr.detach().balance_loss.requires_grad
    assert isinstance(tr.detach(), RoutingTrace)


@pytest.mark.parametrize("router", ROUTERS)
def test_the_trace_keeps_the_routing_before_capacity(router):
    """routed_weights and demand are the gating rule's answer before the capacity limit: recount them from the
    public routing step, and check that the limit only zeroes weights and removes slots."""
    layer = make_layer(router, capacity_factor=0.5)
    x = tokens(17)
    with torch.no_grad():
        _, tr = layer(x)
        r = layer.route(x.view(1, 17, -1))  # (B, S, D) is flattened like the forward's input
    torch.testing.assert_close(tr.routed_weights, r.routing.topk_weights)
    assert torch.equal(tr.demand, r.selected_per_expert)
    picked = r.routing.topk_indices if r.routing.not_picked is None else r.routing.topk_indices[~r.routing.not_picked]
    assert torch.equal(tr.demand, torch.bincount(picked.reshape(-1), minlength=tr.num_experts))
    torch.testing.assert_close(tr.topk_weights, tr.routed_weights * ~tr.dropped)
    assert (tr.tokens_per_expert <= tr.demand).all()
    if not router_spec(router).experts_choose:  # a token-choice router routes T*k slots before any drop
        assert int(tr.demand.sum()) == 17 * tr.top_k and tr.dropped.any()
