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


def test_granularity_designs_keep_active_compute_and_count_combinations():
    import math
    from moeviz import MoEConfig
    cfg = MoEConfig(d_model=16, d_hidden=32, num_experts=8, top_k=2)
    designs = {d["label"]: d["cfg"] for d in costs.granularity_designs(cfg, segments=4)}
    fine, deepseek = designs["fine"], designs["fine + shared (DeepSeekMoE)"]
    assert (fine.num_experts, fine.top_k, fine.d_hidden) == (32, 8, 8)
    assert (deepseek.num_experts, deepseek.top_k, deepseek.shared_expert) == (32, 7, True)
    expert_flops = {label: costs.design_costs(c)["active_flops_per_token"] - 2 * 16 * c.num_experts
                    for label, c in designs.items()}  # router aside
    assert expert_flops["coarse"] == expert_flops["fine"] == expert_flops["fine + shared (DeepSeekMoE)"] \
        == 2 * 2 * (2 * 16 * 32)
    assert expert_flops["coarse + shared"] == 2 * 3 * (2 * 16 * 32)  # one more full-width expert
    assert costs.design_costs(fine)["expert_combinations"] == math.comb(32, 8)
    assert costs.design_costs(designs["coarse"])["expert_combinations"] == 28


def test_granularity_measured_on_the_real_layer_matches_the_counts():
    from moeviz import MoEConfig
    from moeviz.bench.granularity import measure_design
    for d in costs.granularity_designs(MoEConfig(d_model=16, d_hidden=32, num_experts=4, top_k=2, seed=1), 4):
        cfg, m = d["cfg"], measure_design(d["cfg"], 12)
        assert m["layer_params"] == m["total_params"]  # counted = the tensors the layer holds
        assert m["expert_rows"] == 12 * cfg.top_k  # no capacity: every copy runs
        # the layer's matrix work per token, router aside, is what the counts say
        assert 2 * m["expert_macs_per_token"] == m["active_flops_per_token"] - 2 * 16 * cfg.num_experts
        assert (m["shared_share"] > 0) == cfg.shared_expert
