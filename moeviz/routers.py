"""The router variants as data: one RouterSpec per `MoEConfig.router`, read everywhere through `router_spec(name)`.

    spec = router_spec("switch")
    spec.fixed_top_k, spec.default_capacity_factor, spec.experts_choose   # 1, 1.25, False
    routing = spec.gate(router_logits, cfg, selection_bias, capacity)      # a moeviz.router.Routing

No module outside this one compares a router's name: it reads the spec's fields. A new router is one entry in
ROUTER_SPECS plus its gating function in moeviz.router (and a test against a reference); see
docs/architecture.md, section 5. tests/test_routers.py checks that no other module branches on a name.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from moeviz import router as gating

# The score functions the walkthrough can work through with a token's numbers (walkthrough.gate_formula).
SCORE_FUNCTIONS = {
    "softmax": r"p_e = \frac{\exp(z_e)}{\sum_j \exp(z_j)}",
    "sigmoid": r"p_e = \frac{1}{1 + \exp(-z_e)}",
}

# Capacity factors used when a router needs one and the config leaves it unset (None).
# Switch trains with 1.25; its reference code (Mesh TensorFlow's MoE1D: capacity_factor_train=1.25,
# capacity_factor_eval=2.0) evaluates with 2.0. This app routes in eval mode but keeps 1.25, and says so.
DEFAULT_SWITCH_CAPACITY = 1.25
SWITCH_EVAL_CAPACITY = 2.0  # not applied: named so the pages can say what Switch itself uses at evaluation
DEFAULT_EXPERT_CHOICE_CAPACITY = 1.0  # expert choice: on average top_k experts per token


@dataclass(frozen=True)
class RouterSpec:
    name: str  # the MoEConfig.router value (and URL value)
    # the sidebar's name for it, with the system it comes from: short, so the selectbox shows it whole at 1024 px
    # (tests/browser/test_heatmap.py measures every label against the box)
    label: str
    # (router_logits (T, E) float32, cfg, selection_bias (E,), capacity C or None) -> moeviz.router.Routing
    gate: Callable
    score_function: str  # what turns logits into router_probs: a key of SCORE_FUNCTIONS
    fixed_top_k: int | None = None  # the k the router always runs with (Switch: 1); None = the config's top_k
    default_capacity_factor: float | None = None  # applied when the config's capacity_factor is None
    experts_choose: bool = False  # experts pick tokens (K = E slots; "dropped" = not picked), not tokens experts
    renormalises: bool | None = True  # kept weights rescaled to sum to 1; None = as the config's norm_topk_prob
    softmax_over_kept: bool = False  # the softmax runs over the k kept logits only (router_probs show the full one)
    selection_bias: bool = False  # a per-expert bias shifts the choice only (DeepSeek-V3, aux-loss-free balance)
    group_limited: bool = False  # accepts n_group / topk_group (DeepSeek-V3's node-limited routing)
    noise_projection: bool = False  # a learned noise scale is added to the logits in training (Shazeer 2017)
    input_jitter: bool = False  # multiplicative noise on the router input in training (Switch)

    def __post_init__(self) -> None:
        if self.score_function not in SCORE_FUNCTIONS:  # else the walkthrough would show a wrong formula
            raise ValueError(f"router {self.name!r}: score_function {self.score_function!r} is not one of "
                             f"{', '.join(SCORE_FUNCTIONS)}; add its formula to SCORE_FUNCTIONS.")

    @property
    def formula(self) -> str:
        """The score function for one expert e, in LaTeX."""
        return SCORE_FUNCTIONS[self.score_function]

    @property
    def probs_sum_to_one(self) -> bool:
        """router_probs form a distribution per token (sigmoid scores need not: renormalise them for the
        balance loss and the entropy)."""
        return self.score_function == "softmax"

    def weights_sum_to_one(self, norm_topk_prob: bool) -> bool:
        """Whether a token's combine weights (before capacity) sum to 1 under this config flag."""
        return norm_topk_prob if self.renormalises is None else self.renormalises


def _expert_choice_gate(router_logits, cfg, selection_bias, capacity):
    return gating.expert_choice_routing(router_logits, capacity)


ROUTER_SPECS = {s.name: s for s in (
    # renormalised when the config says norm_topk_prob (Mixtral: always); OLMoE, the walkthrough's olmoe-tiny, keeps
    # the raw probabilities (norm_topk_prob=False), as /variants shows beside the renormalised form
    RouterSpec("softmax_topk", "softmax → top-k",  # renormalised or not per the layer (Mixtral yes, OLMoE no)
               lambda z, cfg, bias, capacity: gating.softmax_topk(z, cfg.top_k, cfg.norm_topk_prob),
               "softmax", renormalises=None),
    RouterSpec("topk_softmax", "top-k → softmax (GPT-OSS)",
               lambda z, cfg, bias, capacity: gating.topk_softmax(z, cfg.top_k),
               "softmax", softmax_over_kept=True),
    RouterSpec("sigmoid_bias", "sigmoid + bias (DeepSeek-V3)",
               lambda z, cfg, bias, capacity: gating.sigmoid_bias(z, cfg.top_k, bias, cfg.norm_topk_prob,
                                                                  cfg.n_group, cfg.topk_group),
               "sigmoid", renormalises=None, selection_bias=True, group_limited=True),
    RouterSpec("noisy_topk", "noisy top-k (Shazeer 2017)",
               lambda z, cfg, bias, capacity: gating.noisy_topk(z, cfg.top_k),
               "softmax", softmax_over_kept=True, noise_projection=True),
    RouterSpec("switch", "Switch top-1 (Fedus 2021)",
               lambda z, cfg, bias, capacity: gating.switch(z),
               "softmax", fixed_top_k=1, default_capacity_factor=DEFAULT_SWITCH_CAPACITY, renormalises=False,
               input_jitter=True),
    RouterSpec("expert_choice", "expert choice (Zhou 2022)", _expert_choice_gate,
               "softmax", default_capacity_factor=DEFAULT_EXPERT_CHOICE_CAPACITY, experts_choose=True,
               renormalises=False),
)}


def router_spec(name: str) -> RouterSpec:
    """The spec of router `name`; ValueError naming the choices for anything else."""
    spec = ROUTER_SPECS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise ValueError(f"unknown router {name!r}; choose one of {', '.join(ROUTER_SPECS)}.")
    return spec


__all__ = ["RouterSpec", "ROUTER_SPECS", "SCORE_FUNCTIONS", "router_spec", "DEFAULT_SWITCH_CAPACITY",
           "SWITCH_EVAL_CAPACITY", "DEFAULT_EXPERT_CHOICE_CAPACITY"]
