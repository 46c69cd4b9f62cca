"""Named classroom scenarios: values for the shared controls, one click away in the sidebar. Pure data.

Values use the shared controls' URL names and options (moeviz.app.params): `capacity_factor` is "off" or the
option text ("1", "1.25", ...), `balance_weight` one of the slider's stops.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    key: str  # stable id, usable in a link
    name: str
    description: str  # one sentence: what to look at
    num_experts: int
    top_k: int
    router: str
    balance_weight: float
    capacity_factor: str  # "off" or a capacity option's text
    seed: int = 0

    def values(self) -> dict:
        """The shared controls' values, keyed by widget/URL name."""
        return {"num_experts": self.num_experts, "top_k": self.top_k, "router": self.router,
                "balance_weight": self.balance_weight, "capacity_factor": self.capacity_factor, "seed": self.seed}

    def url_params(self) -> dict[str, str]:
        """The values as link text (floats without trailing zeros)."""
        return {key: f"{value:g}" if isinstance(value, float) else str(value) for key, value in self.values().items()}


CLASSROOM_PRESETS = (
    Preset("balanced", "Balanced top-2 of 8", "The textbook layer (Mixtral's shape): 8 experts, 2 per token, "
           "no capacity limit, and a balance-loss weight (0.3) that evens the load in this page's small training "
           "lab; real models use 0.01-0.001 (the balance page says why).", 8, 2, "softmax_topk", 0.3, "off"),
    Preset("collapse", "Collapse without balance loss", "Balance-loss weight 0: train it on the balance page and "
           "watch a few experts take over.", 8, 2, "softmax_topk", 0.0, "off"),
    Preset("switch_tight", "Switch top-1 with tight capacity", "One expert per token and room for exactly the "
           "even share: any imbalance drops tokens.", 8, 1, "switch", 0.01, "1"),
    Preset("top2_drops", "Top-2 with capacity 0.75", "Less room than the even share: some token copies must "
           "drop. At a full expert second choices lose first, then the latest first choices (drop policy by "
           "position, the default).", 8, 2, "softmax_topk", 0.01, "0.75"),
    Preset("deepseek", "DeepSeek-style 64 experts top-6", "DeepSeek-V3's gating (sigmoid scores; balance "
           "comes mainly from a selection bias, beside which V3 keeps a tiny sequence-wise balance loss, "
           "α = 0.0001: on the balance page pick 'Aux-loss-free', and /variants replays the bias) on the smaller "
           "64-expert top-6 shape of DeepSeekMoE / V2-Lite; V3 itself routes top-8 of 256, plus a shared expert.",
           64, 6, "sigmoid_bias", 0.0, "off"),
    Preset("olmoe", "OLMoE-style 64 experts top-8", "Fine-grained experts with softmax → top-8. "
           "OLMoE keeps the raw top-8 probabilities; this router renormalises them (the variants page shows both).",
           64, 8, "softmax_topk", 0.01, "off"),
    Preset("gpt_oss", "GPT-OSS-style 32 experts top-4", "Top-k on the logits, softmax over the 4 kept.",
           32, 4, "topk_softmax", 0.01, "off"),
    Preset("expert_choice", "Expert choice, capacity 1", "Experts pick tokens: load is even by construction, "
           "tokens get 0 to many experts. Capacity factor 1 with k = 2 means 2 experts per token on average "
           "(the paper's c = 2).", 8, 2, "expert_choice", 0.0, "1"),
)
PRESETS_BY_KEY = {p.key: p for p in CLASSROOM_PRESETS}
PRESETS = CLASSROOM_PRESETS  # the old name: links, tests and the presenter import it

__all__ = ["Preset", "CLASSROOM_PRESETS", "PRESETS", "PRESETS_BY_KEY"]
