"""Every router variant on the same tokens: same seed (so the same router and experts), same inputs.

    runs = run_variants(x, num_experts=8, top_k=2, seed=0)   # one VariantRun per entry of VARIANTS
    variant_summary(runs)                                    # one row per variant, for a table

Pure (torch, no streamlit). Each variant is a real system's gating rule; `VariantRun.experts_per_token` counts
the experts that actually ran for each token, so drops (capacity) and expert choice's uneven coverage show up
as tokens with fewer or more than k experts.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from moeviz.config import MoEConfig
from moeviz.layer import NOISE_EPS, MoELayer
from moeviz.routers import router_spec
from moeviz.trace import RoutingTrace

DEFAULT_BIAS_STEPS = 20  # aux-loss-free updates on the sentence before DeepSeek's router is shown
MAX_BIAS_STEPS = 50  # /variants' slider and a lesson view's `bias_steps` stop here
DEFAULT_BIAS_RATE = 0.02  # u per step: larger than training's 1e-3 so a few steps visibly move the choice
# Noisy top-k's noise exists only in training (Shazeer et al. 2017; tensor2tensor's NoisyTopKGating multiplies it
# by `train`): at inference it picks what top-k -> softmax picks. /variants shows it with the noise on, draw
# NOISE_SEED, and counts what NOISE_DRAWS draws change.
NOISE_SEED, NOISE_DRAWS = 0, 5


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    router: str  # MoEConfig.router
    norm_topk_prob: bool
    model: str  # the real model family that routes this way
    note: str  # one line: what it does and the trade-off it makes


VARIANTS = (
    Variant("softmax_topk_norm", "softmax → top-k, renormalised", "softmax_topk", True, "Mixtral, Qwen3-MoE",
            "Softmax over all experts, keep the k best and rescale their weights to sum to 1: every token gets "
            "a full-strength update (its experts' weights sum to 1, so their output is added to the token's vector "
            "in full), "
            "but the weights forget how sure the router was. (Mixtral's paper writes "
            "top-k, then softmax: the same values. For Qwen3-MoE renormalising is a switch in its config, on in its "
            "released checkpoints as of 2025.)"),
    Variant("softmax_topk_raw", "softmax → top-k, not renormalised", "softmax_topk", False, "Qwen1.5/2-MoE, OLMoE",
            "The same choice, but the kept probabilities are used as they are: an unsure token gets a smaller "
            "update (weights sum below 1, so less of the experts' output is added to the token's vector), which "
            "keeps the router's confidence in the output."),
    Variant("topk_softmax", "top-k → softmax", "topk_softmax", True, "GPT-OSS",
            "Top-k on the raw logits, then a softmax over only those k: the same weights and the same gradients "
            "as the renormalised softmax, in a different order and cheaper (k exponentials, not N)."),
    Variant("sigmoid_bias", "sigmoid + selection bias", "sigmoid_bias", True, "DeepSeek-V3",
            "Independent sigmoid scores; a per-expert bias, nudged after each step towards even load, changes "
            "which experts are picked but not their weights: balance with almost no auxiliary loss (the extra "
            "training loss that other models add to even out the load; V3 keeps a tiny one, computed per "
            "sequence). V3 also multiplies the weights by a fixed factor of 2.5 from its config; here "
            "they sum to 1."),
    Variant("noisy_topk", "noisy top-k", "noisy_topk", True, "Shazeer et al. 2017 (sparsely-gated MoE)",
            "Learned Gaussian noise before the top-k lets near-miss experts win sometimes, which spreads load "
            "while training (it is off at inference); shown here with the training-time noise on (fixed seed)."),
    Variant("switch", "Switch top-1 with capacity", "switch", True, "Switch Transformer",
            "One expert per token halves the work of top-2 and the communication (the token copies sent between "
            "GPUs when experts sit on different ones), but an expert past its "
            "capacity drops the late tokens, which then skip the experts: only the residual path (the layer's input, "
            "passed on unchanged) carries them on."),
    Variant("expert_choice", "expert choice", "expert_choice", True, "Expert Choice (Zhou et al. 2022)",
            "Each expert picks its best tokens, so load is perfectly even by construction; a token can get 0 or "
            "many experts. In a decoder, which writes text one token at a time and may only look back, an expert's "
            "choice looks at later tokens of the batch too: ones the decoder must not see, and that do not exist yet "
            "while it generates."),
)
VARIANT_KEYS = tuple(v.key for v in VARIANTS)


@dataclass(frozen=True)
class VariantRun:
    variant: Variant
    cfg: MoEConfig
    trace: RoutingTrace
    experts_per_token: torch.Tensor  # (T,) int64: experts that actually ran for each token
    selection_bias: torch.Tensor  # (E,) the bias used for selection (zero except sigmoid_bias)

    @property
    def k(self) -> int:
        """The experts per token this variant aims for (Switch: 1)."""
        return self.cfg.top_k


def variant_config(variant: Variant, num_experts: int, top_k: int, seed: int, d_model: int, d_hidden: int,
                   capacity_factor: float | None, bias_rate: float = DEFAULT_BIAS_RATE) -> MoEConfig:
    """The layer config of one variant; Switch forces k = 1 (it is defined that way)."""
    return MoEConfig(d_model=d_model, d_hidden=d_hidden, num_experts=num_experts,
                     top_k=MoEConfig.routed_top_k(variant.router, top_k), router=variant.router,
                     norm_topk_prob=variant.norm_topk_prob, capacity_factor=capacity_factor, seed=seed,
                     bias_update_rate=bias_rate, device="cpu")


def _run_one(variant: Variant, cfg: MoEConfig, x: torch.Tensor, bias_steps: int):
    layer = MoELayer(cfg).eval()
    spec = router_spec(variant.router)
    if spec.selection_bias:
        # DeepSeek's bias only exists after some steps; replay the aux-loss-free update on this sentence.
        for _ in range(bias_steps):
            _, trace = layer(x)
            layer.update_selection_bias(trace.tokens_per_expert)
    if spec.noise_projection:
        layer.train()  # the noise only exists in training; fork the RNG so the draw is seeded and contained
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            _, trace = layer(x)
    else:
        _, trace = layer(x)
    return trace, layer.selection_bias.detach().clone()


def run_variants(x: torch.Tensor, num_experts: int = 8, top_k: int = 2, seed: int = 0,
                 capacity_factor: float | None = None, bias_steps: int = DEFAULT_BIAS_STEPS,
                 bias_rate: float = DEFAULT_BIAS_RATE, keys=VARIANT_KEYS) -> list[VariantRun]:
    """Route x (T, D) through every variant in `keys`; layers share `seed`, so router weights are identical."""
    T, D = x.shape
    runs = []
    with torch.inference_mode():
        for variant in VARIANTS:
            if variant.key not in keys:
                continue
            cfg = variant_config(variant, num_experts, top_k, seed, D, 2 * D, capacity_factor, bias_rate)
            trace, bias = _run_one(variant, cfg, x, bias_steps)
            runs.append(VariantRun(variant, cfg, trace.detach(), (~trace.dropped).sum(dim=1), bias))
    return runs


def own_variant(trace: RoutingTrace) -> str:
    """The key of the variant that routes as the model that made `trace` (a checkpoint's): its router, with its
    weights renormalised or not as the model's own norm_topk_prob says (else as its kept weights sum to 1 or not)."""
    candidates = [v for v in VARIANTS if v.router == trace.router] or list(VARIANTS)
    if len(candidates) == 1:
        return candidates[0].key
    renormalised = trace.metrics.get("norm_topk_prob")
    if renormalised is None:
        renormalised = bool(torch.allclose(trace.routed_weights.sum(dim=-1), torch.ones(trace.num_tokens)))
    return next((v.key for v in candidates if v.norm_topk_prob == bool(renormalised)), candidates[0].key)


def initial_noise_std() -> float:
    """The training-time noise's scale on every logit while W_noise is at its zero start: softplus(0) + eps."""
    return float(torch.nn.functional.softplus(torch.zeros(())) + NOISE_EPS)


def noise_changes(router_logits: torch.Tensor, top_k: int, capacity_factor: float | None = None,
                  draws: int = NOISE_DRAWS) -> list[float]:
    """Noisy top-k on these logits (T, E), draw by draw (seeds 0, 1, ...): the share of tokens whose set of
    running experts differs from the same rule without noise, i.e. from what it routes at inference."""
    from moeviz.hf.whatif import what_if  # it builds on this module
    clean = what_if(router_logits, "noisy_topk", top_k, capacity_factor).trace
    shares = []
    for seed in range(draws):
        w = what_if(clean, "noisy_topk", top_k, capacity_factor, noise_seed=seed)  # lost/gained vs the clean run
        shares.append(float((w.lost | w.gained).any(dim=1).float().mean()))
    return shares


def bias_moved_picks(run: VariantRun) -> int:
    """How many tokens the selection bias sends to a different set of experts than the k largest unbiased scores
    (the darkest cells of its heatmap): 0 for a rule without a bias."""
    trace = run.trace
    if not trace.router_spec.selection_bias:
        return 0
    plain = torch.topk(trace.router_probs.float(), trace.top_k, dim=-1).indices.sort(dim=-1).values
    return int((trace.topk_indices.sort(dim=-1).values != plain).any(dim=-1).sum())


def variant_summary(runs: list[VariantRun]) -> list[dict]:
    """One row per variant: experts per token (min/mean/max), tokens with fewer/more than k or none, load."""
    rows = []
    for run in runs:
        n, k, m = run.experts_per_token, run.k, run.trace.metrics
        rows.append({
            "variant": run.variant.label, "model": run.variant.model, "k": k,
            # text in every row: a column of numbers and None showed the word "None" in the table
            "capacity": "no limit" if run.trace.capacity is None else str(run.trace.capacity),
            "experts/token (min–max)": f"{int(n.min())}–{int(n.max())}",
            "mean experts/token": round(float(n.float().mean()), 2),
            "tokens with fewer than k": int((n < k).sum()), "tokens with more than k": int((n > k).sum()),
            "tokens with no expert": int((n == 0).sum()),
            "max/mean load": round(float(m["max_mean_load"]), 2), "load CV": round(float(m["load_cv"]), 2),
        })
    return rows


def what_happened(router: str, experts: int, k: int) -> str:
    """Why a token got `experts` experts instead of k, in the words of its router: with expert choice the
    experts pick, so nothing is dropped; a token-choice router chose k and lost copies at capacity."""
    if router_spec(router).experts_choose:
        if experts == 0:
            return "no expert picked it: it skips the layer"
        return f"{'fewer' if experts < k else 'more'} experts picked it than k (each expert picks its top tokens)"
    if experts == 0:
        return "every copy dropped at capacity: it skips the layer"
    return "fewer than k (copies dropped at capacity)" if experts < k else "more than k"


def token_changes(runs: list[VariantRun], labels) -> list[dict]:
    """One row per (variant, token) whose token got fewer or more experts than k: a table, not HTML."""
    rows = []
    for run in runs:
        for t, n in enumerate(run.experts_per_token.tolist()):
            if n != run.k:
                rows.append({"variant": run.variant.label, "token": t, "text": labels[t], "experts": n,
                             "k": run.k, "what happened": what_happened(run.variant.router, n, run.k)})
    return rows


__all__ = ["Variant", "VARIANTS", "VARIANT_KEYS", "VariantRun", "run_variants", "variant_summary", "bias_moved_picks",
           "token_changes", "variant_config", "what_happened", "own_variant", "noise_changes", "initial_noise_std", "NOISE_SEED",
           "NOISE_DRAWS"]
