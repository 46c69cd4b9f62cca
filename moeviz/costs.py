"""Parameter and FLOP counts of one MoE layer: what it stores, what one token uses, and the k/N rule of thumb.

Counts, not measurements (the measured times are moeviz.bench's). FLOPs = 2 * multiply-adds of the matmuls.
Pure Python on a few integers: the layer puts layer_costs into every RoutingTrace's metrics, and /compute
draws cost_summary and, for named models, whole_model_shares (a whole model is less sparse than one MoE layer:
attention and embeddings run for every token; decoder_params counts that for a Mixtral-style shape).
"""
from __future__ import annotations

import math

from moeviz.config import MoEConfig
from moeviz.routers import router_spec


def layer_costs(d_model: int, d_hidden: int, num_experts: int, experts_per_token: float,
                activation: str, shared_expert: bool, noise_matrix: bool = False) -> dict:
    """Parameter and FLOP counts of one MoE layer. FLOPs = 2 * multiply-adds of the matmuls, per token.

    Active parameters are those a single token touches: the router, experts_per_token experts, the shared
    expert. Dense-all runs every expert on every token. `noise_matrix`: noisy top-k's noise projection
    (d_model × N), stored with the layer and counted in total_params as noise_params; it runs only while
    training (inference adds no noise), so the active counts and FLOPs leave it out."""
    matrices = 3 if activation == "swiglu" else 2
    per_expert = matrices * d_model * d_hidden
    router = d_model * num_experts
    shared = per_expert if shared_expert else 0
    noise = d_model * num_experts if noise_matrix else 0
    return {
        "matrices_per_expert": matrices,
        "params_per_expert": per_expert,
        "noise_params": noise,
        "total_params": router + num_experts * per_expert + shared + noise,
        "active_params": router + experts_per_token * per_expert + shared,
        "active_flops_per_token": 2 * (router + experts_per_token * per_expert + shared),
        "dense_flops_per_token": 2 * (router + num_experts * per_expert + shared),
        "dense_equivalent_flops_per_token": 2 * (experts_per_token * per_expert + shared),
    }


def config_costs(cfg: MoEConfig, experts_per_token: float) -> dict:
    """layer_costs of the layer `cfg` builds (its noise matrix included when its router has one)."""
    return layer_costs(cfg.d_model, cfg.d_hidden, cfg.num_experts, experts_per_token, cfg.activation,
                       cfg.shared_expert, noise_matrix=router_spec(cfg.router).noise_projection)


def cost_summary(cfg: MoEConfig) -> dict:
    """Parameters and FLOPs per token of this config, and how close the k/N rule of thumb gets.

    The rule of thumb counts experts only: active expert params / all expert params = k/N exactly; the router
    (and a shared expert) make the real active share of the whole layer a little larger."""
    k = cfg.top_k  # expert choice: k experts per token on average (capacity factor 1)
    costs = config_costs(cfg, k)
    expert_params = cfg.num_experts * costs["params_per_expert"]
    return {
        **costs,
        "expert_params": expert_params,
        "rule_of_thumb_share": k / cfg.num_experts,
        "active_share": costs["active_params"] / costs["total_params"],
        "active_expert_share": k * costs["params_per_expert"] / expert_params,
    }


def granularity_designs(cfg: MoEConfig, segments: int = 4) -> list[dict]:
    """Four layers at the same width, after DeepSeekMoE (Dai et al. 2024): each a label and its MoEConfig.

    coarse          N experts H wide, top-k (cfg itself)
    coarse + shared the same plus one always-on expert H wide: what a shared expert costs
    fine            fine-grained segmentation: m·N experts H/m wide, top-m·k: the same active FLOPs
    fine + shared   shared expert isolation as well: one shared expert H/m wide plus m·N routed, top-(m·k − 1),
                    so the active FLOPs (router aside) stay those of the coarse layer"""
    if cfg.d_hidden % segments:
        raise ValueError(f"d_hidden={cfg.d_hidden} does not split into {segments} equal segments.")
    base = cfg.replace(router="softmax_topk", capacity_factor=None, shared_expert=False, n_group=1, topk_group=None)
    fine = base.replace(num_experts=segments * cfg.num_experts, top_k=segments * cfg.top_k,
                        d_hidden=cfg.d_hidden // segments)
    return [{"label": "coarse", "cfg": base},
            {"label": "coarse + shared", "cfg": base.replace(shared_expert=True)},
            {"label": "fine", "cfg": fine},
            {"label": "fine + shared (DeepSeekMoE)", "cfg": fine.replace(shared_expert=True, top_k=fine.top_k - 1)}]


def design_costs(cfg: MoEConfig) -> dict:
    """layer_costs of one design, plus how many different expert sets a token can get, C(N, k)."""
    return {**config_costs(cfg, cfg.top_k), "expert_combinations": math.comb(cfg.num_experts, cfg.top_k)}


# Whole models, as their makers state them (as of 2025): k/N holds inside an MoE layer, but attention,
# embeddings, norms (and DeepSeek-V3's shared experts and first dense layers) run for every token. `source` is
# short (a table cell); `note` is what the maker's count leaves out, when it says so.
WHOLE_MODELS = (
    {"model": "Mixtral 8x7B", "top_k": 2, "num_experts": 8, "total_params": 46.7e9, "active_params": 12.9e9,
     "source": "Mistral AI's Mixtral announcement (Dec 2023)", "note": ""},
    {"model": "DeepSeek-V3", "top_k": 8, "num_experts": 256, "total_params": 671e9, "active_params": 37e9,
     "source": "DeepSeek-V3 model card and technical report (Dec 2024)",
     "note": "DeepSeek-V3's 671B leave out its multi-token-prediction module (an extra layer trained to predict "
                "a further token)"},
)


def whole_model_shares() -> list[dict]:
    """Per named model: the per-layer rule of thumb k/N next to the whole model's active share."""
    return [{**m, "layer_share": m["top_k"] / m["num_experts"],
             "model_share": m["active_params"] / m["total_params"]} for m in WHOLE_MODELS]


def decoder_params(vocab_size: int, d_model: int, n_layers: int, n_heads: int, n_kv_heads: int, d_hidden: int,
                   num_experts: int, top_k: int, tied_embeddings: bool = False) -> dict:
    """Total and active parameters of a Mixtral-style decoder (grouped-query attention, SwiGLU experts in every
    layer, RMSNorm): what the whole-model share counts that one MoE layer's k/N does not."""
    head_dim = d_model // n_heads
    attention = 2 * d_model * d_model + 2 * d_model * n_kv_heads * head_dim  # q, o; k, v
    moe = layer_costs(d_model, d_hidden, num_experts, top_k, "swiglu", False)
    norms = 2 * d_model
    embeddings = vocab_size * d_model * (1 if tied_embeddings else 2)  # input table and output head
    shared = n_layers * (attention + norms) + embeddings + d_model  # the final norm
    return {"total_params": shared + n_layers * moe["total_params"],
            "active_params": shared + n_layers * moe["active_params"]}
