"""moeviz.costs: parameter and FLOP counts against hand counts and against the module's own parameters."""
import pytest
from transformers import MixtralConfig, MixtralForCausalLM

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


def test_decoder_params_counts_transformers_own_mixtral():
    shape = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 intermediate_size=48, num_local_experts=4, num_experts_per_tok=2)
    model = MixtralForCausalLM(MixtralConfig(**shape))
    total = sum(p.numel() for p in model.parameters())
    per_expert = 3 * 32 * 48
    ours = costs.decoder_params(100, 32, 2, 4, 2, 48, 4, 2)
    assert ours["total_params"] == total
    assert ours["active_params"] == total - 2 * (4 - 2) * per_expert
    # Mixtral 8x7B's own config (transformers' defaults) gives the figures Mistral AI states: 46.7B and 12.9B.
    c = MixtralConfig()
    full = costs.decoder_params(c.vocab_size, c.hidden_size, c.num_hidden_layers, c.num_attention_heads,
                                c.num_key_value_heads, c.intermediate_size, c.num_local_experts,
                                c.num_experts_per_tok)
    stated = next(m for m in costs.WHOLE_MODELS if m["model"] == "Mixtral 8x7B")
    assert full["total_params"] == pytest.approx(stated["total_params"], abs=0.05e9)
    assert full["active_params"] == pytest.approx(stated["active_params"], abs=0.05e9)


def test_a_whole_model_is_less_sparse_than_its_moe_layer():
    for m in costs.whole_model_shares():
        assert m["model_share"] == m["active_params"] / m["total_params"] > m["layer_share"] == \
            m["top_k"] / m["num_experts"]
