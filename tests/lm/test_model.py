"""The tiny MoE language model: shapes per layer, its MoE layers are real moeviz layers, the dense variant."""
import torch
import torch.nn.functional as F

from moeviz.layer import MoELayer
from moeviz.lm.model import LMConfig, TinyMoELM, active_params


def test_forward_gives_one_trace_per_layer_with_the_right_shapes(tiny_model, tiny_cfg):
    ids = torch.randint(0, tiny_cfg.vocab_size, (3, 10), generator=torch.Generator().manual_seed(0))
    out = tiny_model(ids)
    T, E, k, D = 30, tiny_cfg.num_experts, tiny_cfg.top_k, tiny_cfg.d_model
    assert out.logits.shape == (3, 10, tiny_cfg.vocab_size)
    assert len(out.traces) == len(out.moe_inputs) == tiny_cfg.n_layers
    for trace, h in zip(out.traces, out.moe_inputs):
        assert trace.router_probs.shape == (T, E) and trace.topk_indices.shape == (T, k)
        assert h.shape == (3, 10, D)
        assert int(trace.tokens_per_expert.sum()) == T * k


def test_moe_layer_on_its_input_reproduces_the_model_routing(tiny_model, tiny_cfg):
    ids = torch.arange(12).unsqueeze(0)
    out = tiny_model(ids)
    for block, h, trace in zip(tiny_model.blocks, out.moe_inputs, out.traces):
        assert isinstance(block.moe, MoELayer)
        _, again = block.moe(h[0])
        torch.testing.assert_close(again.router_probs, trace.router_probs)
        torch.testing.assert_close(again.output, trace.output)


def test_block_is_attention_then_moe_with_residuals(tiny_model):
    """Reference: one block computed by hand from its parts."""
    x = torch.randn(1, 5, tiny_model.cfg.d_model, generator=torch.Generator().manual_seed(1))
    block = tiny_model.blocks[0]
    a = x + block.attn(block.ln_attn(x))
    expected = a + block.moe(block.ln_moe(a))[0]
    torch.testing.assert_close(block(x)[0], expected)


def test_dense_variant_is_one_mlp_of_width_k_times_hidden(tiny_cfg):
    cfg = LMConfig(**{**tiny_cfg.to_dict(), "dense": True})
    model = TinyMoELM(cfg).eval()
    moe = model.blocks[0].moe
    assert moe.cfg.num_experts == 1 and moe.cfg.d_hidden == cfg.top_k * cfg.d_hidden
    h = torch.randn(7, cfg.d_model, generator=torch.Generator().manual_seed(2))
    reference = F.gelu(h @ moe.experts.w_in[0]) @ moe.experts.w_out[0]
    torch.testing.assert_close(moe(h)[0], reference)
    moe_params, dense_params = active_params(tiny_cfg), active_params(cfg)
    assert moe_params["ffn_active"] - tiny_cfg.d_model * tiny_cfg.num_experts == dense_params["ffn_active"]


def test_inference_top_k_and_capacity_change_routing_not_weights(tiny_cfg):
    trained = TinyMoELM(tiny_cfg).eval()
    wider = TinyMoELM(tiny_cfg, top_k=3, capacity_factor=0.5).eval()
    wider.load_state_dict(trained.state_dict())
    ids = torch.arange(16).unsqueeze(0)
    a, b = trained(ids).traces[0], wider(ids).traces[0]
    torch.testing.assert_close(a.router_probs, b.router_probs)
    assert b.topk_indices.shape == (16, 3)
    assert b.capacity == 6 and bool(b.dropped.any())  # ceil(0.5 * 16 * 3 / 4) = 6 < 48 / 4


def test_building_a_model_leaves_the_global_rng_alone(tiny_cfg):
    state = torch.get_rng_state()
    TinyMoELM(tiny_cfg)
    assert torch.equal(state, torch.get_rng_state())


def test_balance_loss_trains_the_router(tiny_model, tiny_cfg):
    ids = torch.randint(0, tiny_cfg.vocab_size, (2, 9), generator=torch.Generator().manual_seed(4))
    tiny_model.train()
    loss, ce, out = tiny_model.loss(ids[:, :-1], ids[:, 1:])
    out.balance_loss.backward()
    assert tiny_model.blocks[0].moe.router.weight.grad.abs().sum() > 0
    torch.testing.assert_close(loss.detach(), ce.detach() + tiny_cfg.balance_weight * out.balance_loss.detach())
