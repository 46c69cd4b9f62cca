"""The checkpoint families moeviz can route, each as transformers 5.24.0 builds it.

    FAMILIES["qwen2_moe"].rule(router_logits, router)   # the family's routing rule (moeviz.hf.routing)
    layer_plan(config)                                   # which decoder layers are MoE, and why the others are not

A family names where its MoE block keeps the router ("gate" or "router") and the shared experts, the moeviz
router variant that routes the same way (for the what-if comparison and figure labels), and which of its layers
stay dense. Those facts come from the model files in transformers 5.24.0 (models/<family>/modeling_*.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from moeviz.hf import routing


@dataclass(frozen=True)
class Family:
    model_type: str  # config.json's "model_type"
    label: str  # the model family, for a page line
    rule_text: str  # the routing rule in one line
    rule: Callable  # (router_logits, router module) -> moeviz.router.Routing
    router_attr: str  # the MoE block's router child: "gate" or "router"
    moeviz_router: str  # the moeviz.config.ROUTERS entry that routes alike
    shared: str = ""  # "" (none), "qwen2" (sigmoid-gated shared_expert) or "deepseek" (shared_experts)


FAMILIES = {f.model_type: f for f in (
    Family("mixtral", "Mixtral (Mistral AI)", "softmax → top-k, renormalised", routing.mixtral, "gate",
           "softmax_topk"),
    Family("olmoe", "OLMoE (AI2)", "softmax → top-k, the kept probabilities used as they are (not renormalised)",
           routing.softmax_topk, "gate", "softmax_topk"),
    Family("qwen2_moe", "Qwen1.5/Qwen2-MoE", "softmax → top-k (renormalised if the config says so) + a "
           "sigmoid-gated shared expert", routing.softmax_topk, "gate", "softmax_topk", shared="qwen2"),
    Family("qwen3_moe", "Qwen3-MoE", "softmax → top-k (renormalised if the config says so)", routing.softmax_topk,
           "gate", "softmax_topk"),
    Family("deepseek_v3", "DeepSeek-V3", "sigmoid + a learned bias for selection only, group-limited top-k, "
           "renormalised, × a fixed scaling factor, + shared experts", routing.deepseek_v3, "gate",
           "sigmoid_bias", shared="deepseek"),
    Family("deepseek_v2", "DeepSeek-V2", "softmax → (group-limited) top-k × a fixed scaling factor, + shared "
           "experts", routing.deepseek_v2, "gate", "softmax_topk", shared="deepseek"),
    Family("gpt_oss", "GPT-OSS (OpenAI)", "top-k on the logits (with router bias) → softmax over the k",
           routing.topk_softmax, "router", "topk_softmax"),
    Family("granitemoe", "GraniteMoE (IBM)", "top-k on the logits → softmax over the k", routing.granitemoe,
           "router", "topk_softmax"),
)}
SUPPORTED_MODEL_TYPES = tuple(FAMILIES)
# Dense architectures a user may well point at: they get "no experts to route", not "unknown type".
DENSE_MODEL_TYPES = ("llama", "mistral", "qwen2", "qwen3", "olmo", "olmo2", "gpt2", "gemma", "gemma2", "gemma3",
                     "phi", "phi3", "granite", "deepseek_v1", "falcon", "gpt_neox", "opt", "bloom")


def supported_text() -> str:
    return ", ".join(SUPPORTED_MODEL_TYPES)


def num_experts(config) -> int:
    for name in ("num_local_experts", "num_experts", "n_routed_experts"):
        value = getattr(config, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 0


def layer_plan(config) -> list[tuple[int, bool, str]]:
    """(layer index, is MoE, why it is dense) per decoder layer, from the config as the model files read it."""
    model_type, layers, experts = config.model_type, config.num_hidden_layers, num_experts(config)
    plan = []
    for i in range(layers):
        reason = "" if experts > 0 else "num_experts = 0"
        if model_type in ("deepseek_v2", "deepseek_v3") and i < (config.first_k_dense_replace or 0):
            reason = f"dense MLP: first_k_dense_replace = {config.first_k_dense_replace}"
        elif model_type in ("qwen2_moe", "qwen3_moe"):
            step = config.decoder_sparse_step
            if i in (config.mlp_only_layers or []):
                reason = "dense MLP: listed in mlp_only_layers"
            elif step and (i + 1) % step:
                reason = f"dense MLP: decoder_sparse_step = {step} (every {step}th layer is MoE)"
        plan.append((i, not reason, reason))
    return plan


__all__ = ["Family", "FAMILIES", "SUPPORTED_MODEL_TYPES", "DENSE_MODEL_TYPES", "layer_plan", "num_experts",
           "supported_text"]
