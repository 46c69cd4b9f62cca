"""Proof that a checkpoint trace is the model's own routing, for every supported family.

For each tiny random checkpoint the test hooks the model itself: what its router returned, what its experts
module was called with (indices and weights), what the MoE block output. The trace must equal those, and the
block's output recomputed from the trace and the block's own experts must equal the real output.
"""
import pytest
import torch
from safetensors import safe_open
from torch.testing import assert_close

from moeviz.dispatch import combine
from moeviz.hf import SUPPORTED_MODEL_TYPES, load_checkpoint
from moeviz.hf.tiny import save_tiny_checkpoint

TEXT = "The router sends def route(x): return 42 to two experts. Les jetons."


def _dense(indices, weights, num_experts):
    """(T, E) combine weight per expert, 0 where not chosen: compares routings whatever the slot order."""
    return torch.zeros(indices.shape[0], num_experts).scatter(1, indices.long().cpu(), weights.float().cpu())


def _observe(model, text):
    """Route `text` while recording, with the test's own hooks, what each block's parts really did."""
    seen, handles = {}, []
    for b in model.blocks:
        rec = seen.setdefault(b.layer, {})

        def on_router(_m, _a, out, rec=rec):
            rec["logits"] = out[0].detach().float()

        def on_experts(_m, args, _out, rec=rec):
            if "indices" not in rec:  # the block's own call; later ones are the trace's per-slot outputs
                rec["indices"], rec["weights"] = args[1].detach(), args[2].detach()

        def on_block(_m, _a, out, rec=rec):
            out = out[0] if isinstance(out, tuple) else out
            rec["output"] = out.detach().reshape(-1, out.shape[-1])
        handles += [b.router.register_forward_hook(on_router), b.experts.register_forward_hook(on_experts),
                    b.block.register_forward_hook(on_block)]
    try:
        routing = model.route(text, states=True)
    finally:
        for h in handles:
            h.remove()
    return routing, seen


def _check_is_the_models_routing(model):
    routing, seen = _observe(model, TEXT)
    assert routing.layers == tuple(b.layer for b in model.blocks) and len(routing.traces) == len(model.blocks)
    for trace, layer, block in zip(routing.traces, routing.layers, model.blocks):
        s = seen[layer]
        T, E = trace.router_logits.shape
        assert T == len(routing.token_ids) and E == block.router.num_experts
        assert_close(trace.router_logits, s["logits"], rtol=0, atol=0)
        # the experts the block ran, with the weights it multiplied them by
        assert_close(_dense(trace.topk_indices, trace.topk_weights, E), _dense(s["indices"], s["weights"], E))
        assert_close(_dense(trace.topk_indices, torch.ones_like(trace.topk_weights), E),
                     _dense(s["indices"], torch.ones_like(s["weights"]), E), rtol=0, atol=0)
        # recompute the block's output from the trace with the block's own experts (one call per slot)
        x = trace.input.to(model.dtype)
        y = sum(block.experts(x, trace.topk_indices[:, j:j + 1], trace.topk_weights[:, j:j + 1].to(model.dtype))
                for j in range(trace.top_k))
        shared = trace.shared_output if trace.shared_output is not None else torch.zeros_like(trace.output)
        assert (trace.shared_output is not None) == (block.shared is not None)
        assert_close(y.float() + shared, s["output"].float())
        assert_close(combine(trace.expert_outputs, trace.topk_weights) + shared, s["output"].float())
        assert_close(trace.output, s["output"].float(), rtol=0, atol=0)
        assert trace.topk_indices.dtype == torch.int64 and trace.dropped.shape == (T, trace.top_k)
        assert trace.tokens_per_expert.sum() == T * trace.top_k and not trace.dropped.any()


@pytest.mark.parametrize("model_type", SUPPORTED_MODEL_TYPES)
def test_trace_is_the_models_routing(tiny_models, model_type):
    _check_is_the_models_routing(tiny_models[model_type])


@pytest.mark.parametrize("model_type, overrides", [
    ("deepseek_v2", dict(topk_method="greedy")),  # no group limit
    ("deepseek_v3", dict(n_group=1, topk_group=1, norm_topk_prob=False, routed_scaling_factor=1.0)),
    ("olmoe", dict(norm_topk_prob=True)),
    ("qwen2_moe", dict(norm_topk_prob=True, mlp_only_layers=[], decoder_sparse_step=2)),
    ("qwen3_moe", dict(norm_topk_prob=False, num_experts_per_tok=3)),
])
def test_config_variants_of_each_rule(tmp_path, model_type, overrides):
    """The settings that change a family's rule are read from the checkpoint, not assumed."""
    model = load_checkpoint(save_tiny_checkpoint(model_type, tmp_path / model_type, seed=7, **overrides),
                            device="cpu")
    _check_is_the_models_routing(model)


@pytest.mark.parametrize("model_type", SUPPORTED_MODEL_TYPES)
def test_router_logits_match_transformers_own_record(tiny_models, model_type):
    """transformers' output_router_logits (its OutputRecorder on the router) gives the same logits."""
    model = tiny_models[model_type]
    routing = model.route(TEXT)
    with torch.inference_mode():
        out = model.model(torch.tensor([routing.token_ids]), output_router_logits=True, use_cache=False)
    assert len(out.router_logits) == len(routing.traces)
    for trace, logits in zip(routing.traces, out.router_logits):
        assert_close(trace.router_logits, logits.float(), rtol=0, atol=0)
        assert trace.input is None and trace.expert_outputs is None  # states only when asked


def test_weights_sum_as_each_family_says(tiny_models):
    """Renormalised families sum to 1 per token (DeepSeek-V3: to routed_scaling_factor); OLMoE and
    Qwen2-MoE with norm_topk_prob=False keep the raw probabilities, which sum below 1."""
    sums = {t: tiny_models[t].route(TEXT).traces[-1].topk_weights.sum(-1) for t in SUPPORTED_MODEL_TYPES}
    for t in ("mixtral", "qwen3_moe", "gpt_oss", "granitemoe"):
        assert_close(sums[t], torch.ones_like(sums[t]))
    assert_close(sums["deepseek_v3"], torch.full_like(sums["deepseek_v3"], 2.5))
    for t in ("olmoe", "qwen2_moe"):
        assert (sums[t] < 1).all()


def test_deepseek_v3_selects_inside_the_best_groups(tiny_models):
    """Every chosen expert lies in one of the topk_group groups ranked best by their two best biased scores."""
    model = tiny_models["deepseek_v3"]
    trace = model.route(TEXT).traces[0]
    router = model.blocks[0].router
    G, E = router.num_group, trace.num_experts
    group_score = trace.selection_scores.view(-1, G, E // G).topk(2, dim=-1).values.sum(-1)
    best = group_score.topk(router.topk_group, dim=-1).indices
    chosen_groups = trace.topk_indices // (E // G)
    assert all(set(c.tolist()) <= set(b.tolist()) for c, b in zip(chosen_groups, best))
    assert_close(trace.selection_scores - trace.router_probs,
                 router.e_score_correction_bias.expand_as(trace.router_probs))


def test_dense_layers_are_named(tiny_models):
    assert tiny_models["deepseek_v3"].route(TEXT).dense_layers[0][0] == 0
    assert "first_k_dense_replace" in tiny_models["deepseek_v3"].dense_layers[0][1]
    assert tiny_models["qwen2_moe"].dense_layers[0][0] == 1
    assert "mlp_only_layers" in tiny_models["qwen2_moe"].dense_layers[0][1]
    assert tiny_models["mixtral"].dense_layers == []


def test_info_counts_parameters(tiny_models, tiny_dirs):
    model = tiny_models["mixtral"]
    info = model.info()
    with safe_open(str(tiny_dirs["mixtral"] / "model.safetensors"), framework="pt") as f:
        total = sum(torch.Size(f.get_slice(name).get_shape()).numel() for name in f.keys())
    assert info["params_total"] == total
    cfg = model.config
    per_expert = 3 * cfg.hidden_size * cfg.intermediate_size  # SwiGLU: gate, up, down
    idle = (cfg.num_local_experts - cfg.num_experts_per_tok) * per_expert * cfg.num_hidden_layers
    assert info["params_active"] == total - idle
    assert (info["num_experts"], info["top_k"], info["moe_layers"]) == (4, 2, [0, 1])


@pytest.mark.parametrize("model_type", ["mixtral", "gpt_oss", "deepseek_v3"])
def test_bfloat16_checkpoint_stays_bfloat16(tmp_path, model_type):
    folder = save_tiny_checkpoint(model_type, tmp_path / model_type, dtype=torch.bfloat16)
    model = load_checkpoint(folder, device="cpu")
    assert model.dtype == torch.bfloat16 and model.model.model.embed_tokens.weight.dtype == torch.bfloat16
    routing, seen = _observe(model, TEXT)
    for trace, layer in zip(routing.traces, routing.layers):
        E = trace.num_experts  # the weights the bf16 block used, bit for bit
        assert_close(_dense(trace.topk_indices, trace.topk_weights, E),
                     _dense(seen[layer]["indices"], seen[layer]["weights"], E), rtol=0, atol=0)
