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
