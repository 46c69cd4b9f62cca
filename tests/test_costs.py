"""moeviz.costs: parameter and FLOP counts against hand counts and against the module's own parameters."""
from moeviz import costs
from tests.helpers import make_layer, tokens


def test_layer_costs_counts():
    c = costs.layer_costs(d_model=4, d_hidden=8, num_experts=10, experts_per_token=2, activation="gelu",
                          shared_expert=False)
    assert c["params_per_expert"] == 2 * 4 * 8
    assert c["total_params"] == 4 * 10 + 10 * 64
    assert c["active_flops_per_token"] == 2 * (40 + 2 * 64)
    assert c["dense_flops_per_token"] == 2 * (40 + 10 * 64)
    swiglu = costs.layer_costs(4, 8, 10, 2, "swiglu", True)
    assert swiglu["params_per_expert"] == 3 * 4 * 8 and swiglu["total_params"] == 40 + 11 * 96


def test_layer_param_count_matches_module():
    layer = make_layer(shared_expert=True)
    _, trace = layer(tokens(3))
    assert trace.metrics["total_params"] == sum(p.numel() for p in layer.parameters())
