"""MoELayer: a sparse Mixture-of-Experts feed-forward layer that returns its output and a RoutingTrace.

    y, trace = layer(x)            # x (T, D) or (B, S, D); only the chosen experts run
    y, trace = layer.dense_forward(x)  # every expert runs on every token, then is masked: the reference
    layer.expert_forward(e, x_e)   # expert e alone
    routed = layer.route(x)        # the routing step alone (a Routed record): what parallel engines reuse

The routing path reads top to bottom in `route`; what differs between routers is read from their spec
(moeviz.routers), the gating rules themselves are in moeviz.router.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from moeviz import costs, losses
from moeviz import router as gating
from moeviz.config import MoEConfig
from moeviz.device import resolve_device
from moeviz.dispatch import Dispatched, capacity_drops, combine, dispatch
from moeviz.experts import Experts, _uniform
from moeviz.routers import router_spec
from moeviz.trace import RoutingTrace

NOISE_EPS = 1e-2  # Shazeer et al.'s floor on the learned noise scale


class Routed(NamedTuple):
    """One batch's routing: the router's logits, the gating rule's answer, and what the capacity limit dropped."""
    router_logits: torch.Tensor  # (T, E); noisy_topk in training: after the noise
    routing: gating.Routing  # router_probs, selection_scores (T, E); topk_indices, topk_weights (T, K)
    dropped: torch.Tensor  # (T, K) bool: selected, but over capacity (expert choice: not picked)
    selected_per_expert: torch.Tensor  # (E,) slots routed to each expert before capacity (the balance loss's f)
    capacity: int | None
    cv_loss: torch.Tensor  # Shazeer's CV^2 loss; 0 unless noisy_topk


class MoELayer(nn.Module):
    def __init__(self, cfg: MoEConfig, dispatch_strategy: str = "auto"):
        super().__init__()
        self.cfg = cfg
        self.dispatch_strategy = dispatch_strategy
        D, H, E = cfg.d_model, cfg.d_hidden, cfg.num_experts
        generator = torch.Generator().manual_seed(cfg.seed)  # CPU draw: identical weights on every device
        self.router = nn.Linear(D, E, bias=False)
        self.router.weight = nn.Parameter(_uniform((E, D), D, generator))
        self.experts = Experts(E, D, H, cfg.activation, generator)
        self.shared_expert = Experts(1, D, H, cfg.activation, generator) if cfg.shared_expert else None
        # Shazeer et al. start the noise projection at zero: every expert gets noise of scale softplus(0).
        self.noise_proj = nn.Linear(D, E, bias=False) if router_spec(cfg.router).noise_projection else None
        if self.noise_proj is not None:
            nn.init.zeros_(self.noise_proj.weight)
        self.to(device=resolve_device(cfg.device), dtype=getattr(torch, cfg.dtype))
        # DeepSeek-V3's selection bias: changed by update_selection_bias, never by gradients; kept in fp32.
        self.register_buffer("selection_bias", torch.zeros(E, device=self.device))

    @property
    def device(self) -> torch.device:
        return self.router.weight.device

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, RoutingTrace]:
        return self._forward(x, dense=False)

    def dense_forward(self, x: torch.Tensor) -> tuple[torch.Tensor, RoutingTrace]:
        """Every expert computes every token, then the unchosen results are masked away (E/k times the work)."""
        return self._forward(x, dense=True)

    def expert_forward(self, e: int, x_e: torch.Tensor) -> torch.Tensor:
        """Expert e on some tokens: (n, D) -> (n, D)."""
        if not 0 <= e < self.cfg.num_experts:
            raise ValueError(f"expert index {e} is out of range: this layer has {self.cfg.num_experts} experts.")
        return self.experts.forward_expert(e, x_e.to(self.device, self.router.weight.dtype))

    @torch.no_grad()
    def update_selection_bias(self, tokens_per_expert: torch.Tensor) -> None:
        """DeepSeek-V3's aux-loss-free step, b_i += u * sign(mean load - load_i); call once per training step."""
        self.selection_bias.copy_(gating.update_selection_bias(
            self.selection_bias, tokens_per_expert.to(self.device), self.cfg.bias_update_rate))

    def _forward(self, x: torch.Tensor, dense: bool) -> tuple[torch.Tensor, RoutingTrace]:
        shape = x.shape
        x = self._flatten(x)  # (T, D)
        r = self.route(x)
        topk_indices, active = r.routing.topk_indices, ~r.dropped
        if dense:
            all_outputs = self.experts.forward_all(x)  # (E, T, D)
            token_ids = torch.arange(x.shape[0], device=x.device).unsqueeze(1)
            expert_outputs = all_outputs[topk_indices, token_ids] * active.unsqueeze(-1)  # (T, K, D)
            d = Dispatched(expert_outputs, x.shape[0] * self.cfg.num_experts, 0, "dense-all")
        else:
            d = dispatch(self.experts, x, topk_indices, active, self.dispatch_strategy)
        topk_weights = r.routing.topk_weights * active  # a dropped slot contributes nothing
        y = combine(d.expert_outputs, topk_weights)  # (T, D)
        shared_output = None
        if self.shared_expert is not None:
            shared_output = self.shared_expert.forward_expert(0, x)
            y = y + shared_output
        return y.reshape(shape), self._trace(x, r, d, topk_weights, shared_output, y)

    def _flatten(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() not in (2, 3) or x.shape[-1] != self.cfg.d_model:
            raise ValueError(f"expected x of shape (T, {self.cfg.d_model}) or (B, S, {self.cfg.d_model}), "
                             f"got {tuple(x.shape)}.")
        x = x.reshape(-1, self.cfg.d_model)
        if x.shape[0] == 0:
            raise ValueError("x holds no tokens: give at least one token.")
        return x.to(self.device, self.router.weight.dtype)

    def route(self, x: torch.Tensor) -> Routed:
        """Router logits -> gating rule -> capacity, for one batch x (T, D) or (B, S, D), flattened to T tokens."""
        x = self._flatten(x)
        cfg, spec, T = self.cfg, router_spec(self.cfg.router), x.shape[0]
        router_input = x
        if spec.input_jitter and self.training and cfg.jitter_eps > 0:
            # Switch: multiplicative jitter on the router input, for exploration during training.
            router_input = x * torch.empty_like(x).uniform_(1 - cfg.jitter_eps, 1 + cfg.jitter_eps)
        clean_logits = self.router(router_input).float()  # (T, E)
        router_logits, noise_std = clean_logits, None
        if spec.noise_projection and self.training and cfg.noise:
            # Shazeer et al. 2017: Gaussian noise with a learned per-expert scale, before the top-k.
            noise_std = F.softplus(self.noise_proj(x).float()) + NOISE_EPS
            router_logits = clean_logits + torch.randn_like(clean_logits) * noise_std
        capacity = cfg.capacity(T)
        routing = spec.gate(router_logits, cfg, self.selection_bias, capacity)
        if spec.experts_choose:  # the experts' own choice is the limit: an unpicked slot counts as dropped
            dropped = routing.not_picked
        elif capacity is not None:
            dropped = capacity_drops(routing.topk_indices, routing.topk_weights, cfg.num_experts,
                                     capacity, cfg.drop_policy, routing.router_probs)
        else:
            dropped = torch.zeros_like(routing.topk_indices, dtype=torch.bool)
        selected = routing.topk_indices if routing.not_picked is None else routing.topk_indices[~routing.not_picked]
        selected_per_expert = torch.bincount(selected.reshape(-1), minlength=cfg.num_experts)
        cv_loss = (self._cv_loss(clean_logits, router_logits, noise_std, routing) if spec.noise_projection
                   else clean_logits.new_zeros(()))
        return Routed(router_logits, routing, dropped, selected_per_expert, capacity, cv_loss)

    def _cv_loss(self, clean_logits: torch.Tensor, router_logits: torch.Tensor, noise_std: torch.Tensor | None,
                 routing: gating.Routing) -> torch.Tensor:
        """Shazeer et al. 2017's CV^2 loss on importance and load (the smooth load estimate when noise was drawn)."""
        if noise_std is not None:
            load = gating.noisy_topk_load(clean_logits, router_logits, noise_std, self.cfg.top_k)
        else:
            load = torch.bincount(routing.topk_indices.reshape(-1), minlength=self.cfg.num_experts).float()
        importance = torch.zeros_like(clean_logits).scatter(1, routing.topk_indices, routing.topk_weights).sum(0)
        return losses.shazeer_balance_loss(importance, load)

    def _trace(self, x: torch.Tensor, r: Routed, d: Dispatched, topk_weights: torch.Tensor,
               shared_output: torch.Tensor | None, y: torch.Tensor) -> RoutingTrace:
        cfg, spec, T = self.cfg, router_spec(self.cfg.router), x.shape[0]
        tokens_per_expert = torch.bincount(r.routing.topk_indices[~r.dropped], minlength=cfg.num_experts)
        health = losses.trace_metrics(r.router_logits, r.routing.router_probs, r.selected_per_expert,
                                      tokens_per_expert, r.dropped, spec.probs_sum_to_one, spec.experts_choose)
        experts_per_token = r.selected_per_expert.sum().item() / T if spec.experts_choose else cfg.top_k
        metrics = {
            **health.metrics,
            "expert_rows": d.expert_rows, "padding_rows": d.padding_rows, "dispatch": d.strategy,
            **costs.config_costs(cfg, experts_per_token),
        }
        detach = torch.Tensor.detach
        return RoutingTrace(
            router=cfg.router, top_k=cfg.top_k, num_experts=cfg.num_experts, capacity=r.capacity,
            input=detach(x), router_logits=detach(r.router_logits), router_probs=detach(r.routing.router_probs),
            selection_scores=detach(r.routing.selection_scores), topk_indices=r.routing.topk_indices,
            routed_weights=detach(r.routing.topk_weights), topk_weights=detach(topk_weights), dropped=r.dropped,
            expert_outputs=detach(d.expert_outputs),
            shared_output=None if shared_output is None else detach(shared_output),
            demand=r.selected_per_expert, tokens_per_expert=tokens_per_expert, output=detach(y),
            balance_loss=health.balance_loss, z_loss=health.z_loss, cv_loss=r.cv_loss, metrics=metrics)
