import json

import pytest
import torch

from moeviz.config import ROUTERS
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
    K = E if router == "expert_choice" else tr.top_k
    shapes = {"input": (T, D), "router_logits": (T, E), "router_probs": (T, E), "selection_scores": (T, E),
              "topk_indices": (T, K), "topk_weights": (T, K), "dropped": (T, K), "expert_outputs": (T, K, D),
              "tokens_per_expert": (E,), "output": (T, D)}
    for name, shape in shapes.items():
        assert tuple(getattr(tr, name).shape) == shape, name
    assert tr.topk_indices.dtype == torch.int64 and tr.dropped.dtype == torch.bool
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
