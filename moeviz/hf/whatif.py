"""What if this checkpoint routed differently? Its real router logits through a moeviz router variant.

    w = what_if(routing.traces[3], variant="switch", capacity_factor=1.0)   # Mixtral's logits, Switch's rule
    w.trace          # RoutingTrace of the variant (topk_indices, topk_weights, dropped, tokens_per_expert, ...)
    w.lost, w.gained # (T, E) bool: experts the model ran for a token that the variant does not, and the reverse
    w.rows(labels)   # one row per token whose experts changed: which it lost (not chosen / dropped)

No second implementation of any rule: the logits go through a moeviz MoELayer whose router is the identity
(d_model = E, so router_logits = x @ I = the logits exactly), so gating, capacity, drop policy, metrics and losses
are the layer's own, as on /variants. The layer's experts are placeholders (d_hidden = 1): only the routing
fields of the result mean anything, so input, output and expert_outputs are set to None.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from moeviz.config import MoEConfig
from moeviz.layer import MoELayer
from moeviz.trace import RoutingTrace
from moeviz.variants import VARIANT_KEYS, VARIANTS, Variant, variant_config


@dataclass(frozen=True)
class WhatIf:
    variant: Variant
    config: MoEConfig
    trace: RoutingTrace  # the variant's routing of the same logits
    lost: torch.Tensor | None  # (T, E) bool: ran in the model, not under the variant (None without a baseline)
    gained: torch.Tensor | None  # (T, E) bool: runs under the variant, did not in the model

    def rows(self, labels=None) -> list[dict]:
        """One row per token whose set of running experts changed (a table, not HTML). "lost (dropped)": the
        variant chose the expert but capacity dropped the slot (expert choice: the expert did not pick the token)."""
        if self.lost is None:
            return []
        t = self.trace
        dropped = _running(t.topk_indices, t.dropped, t.num_experts)  # chosen, then lost to capacity
        rows = []
        for i in range(t.num_tokens):
            lost, gained = _ids(self.lost[i]), _ids(self.gained[i])
            if lost or gained:
                rows.append({"token": i, "text": labels[i] if labels is not None else str(i),
                             "lost (not chosen)": [e for e in lost if not dropped[i, e]],
                             "lost (dropped)": [e for e in lost if dropped[i, e]],
                             "gained": gained})
        return rows

    def tokens(self, start: int, stop: int) -> WhatIf:
        """This what-if cut to tokens start..stop-1 (trace, lost and gained alike): what a page draws when it
        shows a long text in windows of tokens."""
        from moeviz.hf.analysis import token_window

        def cut(mask):
            return None if mask is None else mask[start:stop]
        return replace(self, trace=token_window(self.trace, start, stop), lost=cut(self.lost),
                       gained=cut(self.gained))


def what_if(source: RoutingTrace | torch.Tensor, variant: str = "switch", top_k: int | None = None,
            capacity_factor: float | None = None, drop_policy: str = "position",
            selection_bias: torch.Tensor | None = None, noise_seed: int | None = None) -> WhatIf:
    """Route `source`'s router logits (a checkpoint trace, or a (T, E) tensor) under a moeviz variant.

    top_k defaults to the source's (Switch is always 1). capacity_factor None = no limit, except for Switch and
    expert choice, which always have one (moeviz.config). selection_bias is sigmoid_bias's per-expert bias;
    by default a DeepSeek-V3 trace's own e_score_correction_bias, else zero. noise_seed (noisy top-k only): None
    routes as at inference, without noise; a number draws the training-time noise with that seed, its scale at
    Shazeer et al.'s start (W_noise = 0: softplus(0) + 0.01 for every logit)."""
    if variant not in VARIANT_KEYS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANT_KEYS)}.")
    trace = source if isinstance(source, RoutingTrace) else None
    logits = (trace.router_logits if trace is not None else source).detach().to("cpu", torch.float32)
    T, E = logits.shape
    spec = next(v for v in VARIANTS if v.key == variant)
    k = top_k if top_k is not None else (trace.top_k if trace is not None else 2)
    cfg = variant_config(spec, num_experts=E, top_k=min(k, E), seed=0, d_model=E, d_hidden=1,
                         capacity_factor=capacity_factor).replace(drop_policy=drop_policy)
    layer = MoELayer(cfg).eval()
    with torch.no_grad():
        layer.router.weight.copy_(torch.eye(E))
        layer.selection_bias.copy_(_bias(trace, selection_bias, E))
        layer.train(noise_seed is not None and layer.noise_proj is not None)  # the noise exists only in training
        with torch.random.fork_rng(devices=[]):  # a seeded draw that leaves the caller's random state alone
            torch.manual_seed(noise_seed or 0)
            _, routed = layer(logits)
    routed = replace(routed.detach(), input=None, output=None, expert_outputs=None, shared_output=None)
    if trace is None:
        return WhatIf(spec, cfg, routed, None, None)
    before = _running(trace.topk_indices, ~trace.dropped, E)
    after = _running(routed.topk_indices, ~routed.dropped, E)
    return WhatIf(spec, cfg, routed, before & ~after, after & ~before)


def _bias(trace: RoutingTrace | None, selection_bias: torch.Tensor | None, E: int) -> torch.Tensor:
    if selection_bias is not None:
        return selection_bias.detach().float().cpu()
    if trace is not None and trace.router_spec.selection_bias:  # DeepSeek-V3: selection = sigmoid + bias
        return (trace.selection_scores - trace.router_probs)[0]
    return torch.zeros(E)


def _running(topk_indices: torch.Tensor, active: torch.Tensor, num_experts: int) -> torch.Tensor:
    """(T, E) bool: expert e ran for token t (some active slot of t points at e)."""
    topk_indices, active = topk_indices.cpu(), active.cpu()
    out = torch.zeros(topk_indices.shape[0], num_experts, dtype=torch.bool)
    rows = torch.arange(topk_indices.shape[0]).unsqueeze(1).expand_as(topk_indices)
    out[rows[active], topk_indices[active]] = True
    return out


def _ids(mask: torch.Tensor) -> list[int]:
    return mask.nonzero().flatten().tolist()


__all__ = ["WhatIf", "what_if"]
