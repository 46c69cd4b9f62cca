"""A tiny decoder-only transformer language model whose feed-forward blocks are moeviz MoE layers.

    model = TinyMoELM(LMConfig(num_experts=8, top_k=2))
    out = model(ids)            # ids (B, S) int64 -> out.logits (B, S, V), out.traces[l], out.moe_inputs[l]

Shape legend: B batch, S positions (<= context), D = d_model, V = vocab_size, L = n_layers.
Each block is pre-norm (GPT-2 style): x + attention(ln(x)), then x + moe(ln(x)). The dense variant (`dense=True`)
replaces each MoE layer by one MLP of hidden width top_k * d_hidden: the same active parameters per token, no
routing. It is built as a MoELayer with one expert and k = 1, which is exactly one MLP (its router always gives 1).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from moeviz.config import MoEConfig
from moeviz.layer import MoELayer
from moeviz.trace import RoutingTrace


@dataclass(frozen=True)
class LMConfig:
    vocab_size: int = 1024  # the BPE tokenizer's vocabulary
    context: int = 64  # longest sequence the position table covers
    d_model: int = 64  # residual stream width
    n_layers: int = 2  # transformer blocks, each with one MoE feed-forward layer
    n_heads: int = 4  # attention heads (d_model / n_heads per head)
    d_hidden: int = 128  # hidden width of one expert
    num_experts: int = 8  # routed experts per MoE layer
    top_k: int = 2  # experts per token during training
    dense: bool = False  # True: one MLP of width top_k * d_hidden per block instead of the MoE layer
    balance_weight: float = 0.01  # α: loss = cross-entropy + α · mean over layers of the load-balance loss
    seed: int = 0  # initial weights

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} must be a multiple of n_heads={self.n_heads}.")
        self.moe_config(0)  # validates the MoE fields

    def moe_config(self, layer_index: int, top_k: int | None = None,
                   capacity_factor: float | None = None) -> MoEConfig:
        """The MoE layer of block `layer_index`; top_k/capacity_factor may differ from training at inference."""
        if self.dense:
            return MoEConfig(d_model=self.d_model, d_hidden=self.top_k * self.d_hidden, num_experts=1, top_k=1,
                             device="cpu", seed=self.seed + 1000 + layer_index)
        return MoEConfig(d_model=self.d_model, d_hidden=self.d_hidden, num_experts=self.num_experts,
                         top_k=self.top_k if top_k is None else top_k, router="softmax_topk",
                         norm_topk_prob=True, capacity_factor=capacity_factor, device="cpu",
                         seed=self.seed + 1000 + layer_index)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "LMConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown LMConfig fields {sorted(unknown)}")
        return cls(**values)


class LMOutput(NamedTuple):
    logits: torch.Tensor  # (B, S, V)
    traces: list[RoutingTrace]  # one per MoE layer, tokens flattened row-major (T = B*S)
    moe_inputs: list[torch.Tensor]  # (B, S, D) the normalised hidden state entering each MoE layer
    balance_loss: torch.Tensor  # mean over layers of the load-balance loss (1.0 = perfectly even)


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, S, D = x.shape
        q, k, v = self.qkv(x).split(D, dim=-1)  # 3 x (B, S, D)
        heads = lambda t: t.view(B, S, self.n_heads, D // self.n_heads).transpose(1, 2)  # (B, H, S, D/H)
        y = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(B, S, D))


class Block(nn.Module):
    def __init__(self, cfg: LMConfig, layer_index: int, top_k: int | None, capacity_factor: float | None):
        super().__init__()
        self.ln_attn = nn.LayerNorm(cfg.d_model)
        self.attn = CausalSelfAttention(cfg.d_model, cfg.n_heads)
        self.ln_moe = nn.LayerNorm(cfg.d_model)
        self.moe = MoELayer(cfg.moe_config(layer_index, top_k, capacity_factor))

    def forward(self, x: torch.Tensor):
        x = x + self.attn(self.ln_attn(x))
        h = self.ln_moe(x)  # (B, S, D): what the router sees
        y, trace = self.moe(h)
        return x + y, h, trace


class TinyMoELM(nn.Module):
    def __init__(self, cfg: LMConfig, top_k: int | None = None, capacity_factor: float | None = None):
        """`top_k` / `capacity_factor` override the routing for inference; the weights do not depend on them."""
        super().__init__()
        self.cfg = cfg
        with torch.random.fork_rng():  # seed embeddings and attention without touching the caller's RNG
            torch.manual_seed(cfg.seed)  # (the MoE layers draw from their own seeded generators)
            self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
            self.pos_emb = nn.Embedding(cfg.context, cfg.d_model)
            nn.init.normal_(self.tok_emb.weight, std=0.02)
            nn.init.normal_(self.pos_emb.weight, std=0.02)
            self.blocks = nn.ModuleList(Block(cfg, i, top_k, capacity_factor) for i in range(cfg.n_layers))
        self.ln_final = nn.LayerNorm(cfg.d_model)

    def forward(self, ids: torch.Tensor) -> LMOutput:
        B, S = ids.shape
        if S > self.cfg.context:
            raise ValueError(f"sequence of {S} tokens is longer than the model's context of {self.cfg.context}.")
        x = self.tok_emb(ids) + self.pos_emb(torch.arange(S, device=ids.device))  # (B, S, D)
        traces, inputs = [], []
        for block in self.blocks:
            x, h, trace = block(x)
            traces.append(trace)
            inputs.append(h)
        logits = self.ln_final(x) @ self.tok_emb.weight.T  # (B, S, V), tied input/output embedding
        balance = torch.stack([t.balance_loss for t in traces]).mean()
        return LMOutput(logits, traces, inputs, balance)

    def loss(self, ids: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, LMOutput]:
        """(training loss, cross-entropy in nats per token, output). The dense model has no balance term."""
        out = self(ids)
        ce = F.cross_entropy(out.logits.flatten(0, 1), targets.flatten())
        weight = 0.0 if self.cfg.dense else self.cfg.balance_weight
        return ce + weight * out.balance_loss, ce, out


def active_params(cfg: LMConfig) -> dict:
    """Parameters per block's feed-forward layer that one token uses, and in total (router included)."""
    per_expert = 2 * cfg.d_model * cfg.d_hidden
    if cfg.dense:
        ffn = cfg.top_k * per_expert
        return {"ffn_active": ffn, "ffn_total": ffn}
    router = cfg.d_model * cfg.num_experts
    return {"ffn_active": router + cfg.top_k * per_expert, "ffn_total": router + cfg.num_experts * per_expert}


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def nats_to_perplexity(nats: float) -> float:
    return math.exp(nats)
