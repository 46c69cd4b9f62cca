"""MoEConfig: every knob of one MoE layer, frozen and validated so it can key caches."""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields

from moeviz.routers import (DEFAULT_EXPERT_CHOICE_CAPACITY, DEFAULT_SWITCH_CAPACITY,  # noqa: F401 (public names)
                            ROUTER_SPECS, SWITCH_EVAL_CAPACITY, router_spec)

# Router variants, each the gating rule of a real system: the table is moeviz/routers.py.
ROUTERS = tuple(ROUTER_SPECS)
ROUTER_LABELS = {name: spec.label for name, spec in ROUTER_SPECS.items()}
# Who loses when an expert is full (moeviz.dispatch.slot_queue): GShard/Switch, V-MoE, Megatron-Core.
DROP_POLICIES = ("position", "priority", "weight")
RENAMED_DROP_POLICIES = {"probability": "weight"}  # old name -> new: "probability" always ranked combine weights
ACTIVATIONS = ("gelu", "relu", "swiglu")
DTYPES = ("float32", "bfloat16", "float16")
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class MoEConfig:
    d_model: int = 32  # width of the token vector entering and leaving the layer
    d_hidden: int = 64  # hidden width inside each expert MLP
    num_experts: int = 8  # N: routed experts
    top_k: int = 2  # k: experts each token is sent to (expert_choice: average experts per token)
    router: str = "softmax_topk"  # one of ROUTERS
    norm_topk_prob: bool = True  # rescale the k kept weights to sum 1 (Mixtral: yes; OLMoE: no)
    capacity_factor: float | None = None  # None = unlimited; else C = ceil(cf * T * k / N) slots per expert
    drop_policy: str = "position"  # who loses at a full expert: one of DROP_POLICIES (see slot_queue)
    jitter_eps: float = 0.01  # switch: multiplicative router-input noise in training, U(1-eps, 1+eps)
    noise: bool = True  # noisy_topk: add the trainable Gaussian noise in training
    bias_update_rate: float = 0.001  # sigmoid_bias: u in b_i += u * sign(mean load - load_i)
    n_group: int = 1  # sigmoid_bias: experts in n_group equal groups (DeepSeek-V3: 8, one per node)
    topk_group: int | None = None  # sigmoid_bias: a token chooses inside its best topk_group groups (V3: 4)
    shared_expert: bool = False  # one always-on expert added to the output (DeepSeek; Qwen2-MoE: sigmoid-gated)
    activation: str = "gelu"  # expert MLP: "gelu"/"relu" (2 matrices) or "swiglu" (3, Mixtral-style)
    dtype: str = "float32"  # parameter dtype; routing maths always runs in float32
    device: str = "auto"  # "auto" = cuda > mps > cpu
    seed: int = 0  # weights are drawn on the CPU from this seed, so every device gets the same layer

    def __post_init__(self) -> None:
        if self.drop_policy in RENAMED_DROP_POLICIES:  # an old saved config keeps working, under the new name
            new = RENAMED_DROP_POLICIES[self.drop_policy]
            warnings.warn(f"drop_policy={self.drop_policy!r} is now called {new!r}.", DeprecationWarning, stacklevel=3)
            object.__setattr__(self, "drop_policy", new)
        for problem in _problems(self):
            raise ValueError(f"Invalid MoEConfig: {problem}")

    def replace(self, **changes) -> "MoEConfig":
        """A copy with some fields changed (validated again)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return MoEConfig(**values)

    @staticmethod
    def routed_top_k(router: str, top_k: int) -> int:
        """The k `router` runs with when k = `top_k` was asked for: Switch sends each token to exactly one expert."""
        return router_spec(router).fixed_top_k or top_k

    @property
    def effective_capacity_factor(self) -> float | None:
        """The capacity factor actually applied: switch and expert_choice always have one."""
        if self.capacity_factor is not None:
            return float(self.capacity_factor)
        return router_spec(self.router).default_capacity_factor

    def capacity(self, num_tokens: int) -> int | None:
        """Slots per expert for a batch of `num_tokens`: C = ceil(cf * T * k / N), or None if unlimited."""
        cf = self.effective_capacity_factor
        if cf is None:
            return None
        return max(1, math.ceil(cf * num_tokens * self.top_k / self.num_experts))


def _problems(cfg: MoEConfig):
    """Yield a sentence for each invalid field, saying what to change."""
    for name in ("d_model", "d_hidden", "num_experts", "top_k"):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int):
            yield f"{name} must be an integer, got {value!r}."
        elif value < 1:
            yield f"{name} must be at least 1, got {value}."
    if cfg.top_k > cfg.num_experts:
        yield (f"top_k={cfg.top_k} is larger than num_experts={cfg.num_experts}: "
               f"pick top_k between 1 and {cfg.num_experts}, or add experts.")
    try:
        spec = router_spec(cfg.router)
    except ValueError as error:
        yield str(error)
        return
    if spec.fixed_top_k is not None and cfg.top_k != spec.fixed_top_k:
        experts = "one expert" if spec.fixed_top_k == 1 else f"{spec.fixed_top_k} experts"
        yield (f"the {cfg.router} router sends each token to exactly {experts}: "
               f"set top_k={spec.fixed_top_k} (got {cfg.top_k}).")
    if cfg.capacity_factor is not None:
        cf = cfg.capacity_factor
        if isinstance(cf, bool) or not isinstance(cf, (int, float)) or not math.isfinite(cf) or cf <= 0:
            yield f"capacity_factor must be a positive number or None (no limit), got {cf!r}."
    yield from _group_problems(cfg, spec.group_limited)
    if cfg.drop_policy not in DROP_POLICIES:
        yield f"unknown drop_policy {cfg.drop_policy!r}; choose one of {', '.join(DROP_POLICIES)}."
    if not (0 <= cfg.jitter_eps < 1):
        yield f"jitter_eps must be in [0, 1), got {cfg.jitter_eps!r}."
    if not (cfg.bias_update_rate >= 0):
        yield f"bias_update_rate must be >= 0, got {cfg.bias_update_rate!r}."
    if cfg.activation not in ACTIVATIONS:
        yield f"unknown activation {cfg.activation!r}; choose one of {', '.join(ACTIVATIONS)}."
    if cfg.dtype not in DTYPES:
        yield f"unknown dtype {cfg.dtype!r}; choose one of {', '.join(DTYPES)}."
    if cfg.device not in DEVICES and not str(cfg.device).startswith("cuda:"):
        yield f"unknown device {cfg.device!r}; choose one of {', '.join(DEVICES)} (or 'cuda:N')."
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or cfg.seed < 0:
        yield f"seed must be a non-negative integer, got {cfg.seed!r}."


def _group_problems(cfg: MoEConfig, group_limited: bool):
    """Group-limited routing (DeepSeek-V3's node limit): equal groups, enough experts left for top_k."""
    if cfg.n_group == 1 and cfg.topk_group is None:
        return
    if isinstance(cfg.n_group, bool) or not isinstance(cfg.n_group, int) or cfg.n_group < 1:
        yield f"n_group must be a positive integer, got {cfg.n_group!r}."
        return
    if not group_limited:
        routers = ", ".join(name for name, spec in ROUTER_SPECS.items() if spec.group_limited)
        yield f"group-limited routing (n_group, topk_group) is an option of the {routers} router, not {cfg.router!r}."
    if not isinstance(cfg.num_experts, int) or cfg.num_experts % cfg.n_group:
        yield f"n_group={cfg.n_group} must divide num_experts={cfg.num_experts} into equal groups."
        return
    topk_group = cfg.n_group if cfg.topk_group is None else cfg.topk_group
    if isinstance(topk_group, bool) or not isinstance(topk_group, int) or not 1 <= topk_group <= cfg.n_group:
        yield f"topk_group must be between 1 and n_group={cfg.n_group}, got {cfg.topk_group!r}."
    elif isinstance(cfg.top_k, int) and topk_group * (cfg.num_experts // cfg.n_group) < cfg.top_k:
        yield (f"topk_group={topk_group} groups of {cfg.num_experts // cfg.n_group} experts hold fewer than "
               f"top_k={cfg.top_k} experts: keep more groups or use fewer, larger ones.")
