"""The checkpoints shipped in moeviz/lm/checkpoints/: find the nearest expert count, load, route a text.

Nothing here caches: every call reads the files again. The app keeps loaded models in its one cache layer
(moeviz.app.runners); a loaded model is read-only, so sharing it between sessions is safe.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from moeviz.layer import MoELayer
from moeviz.lm import analysis
from moeviz.lm.checkpoint import file_digest, load_checkpoint
from moeviz.lm.model import TinyMoELM
from moeviz.lm.tokenizer import CHECKPOINT_DIR, TOKENIZER_FILE, shipped_tokenizer
from moeviz.lm.train import SUMMARY_FILE, checkpoint_name
from moeviz.text import MAX_TOKENS
from moeviz.walkthrough import DenseRun, WalkthroughRun, run_dense, run_walkthrough

_EXPERT_FILE = re.compile(r"lm_e(\d+)\.safetensors")


def shipped_expert_counts(directory: Path = CHECKPOINT_DIR) -> tuple[int, ...]:
    """Expert counts with a checkpoint on disk, ascending."""
    found = (_EXPERT_FILE.fullmatch(p.name) for p in directory.glob("lm_e*.safetensors"))
    return tuple(sorted(int(m.group(1)) for m in found if m))


def nearest_expert_count(num_experts: int, available: tuple[int, ...] | None = None) -> int:
    """The shipped count closest to `num_experts` (ties go to the smaller model)."""
    available = available or shipped_expert_counts()
    if not available:
        raise FileNotFoundError(f"No checkpoints in {CHECKPOINT_DIR}: run `python -m moeviz.lm.train`.")
    return min(available, key=lambda e: (abs(e - num_experts), e))


def load_summary() -> dict:
    """The training record written next to the checkpoints (losses, specialization statistics)."""
    return json.loads((CHECKPOINT_DIR / SUMMARY_FILE).read_text())


@dataclass(frozen=True)
class ShippedLM:
    model: TinyMoELM  # eval mode, float32, routing with `top_k` and `capacity_factor`
    tokenizer: object
    num_experts: int
    requested_experts: int
    top_k: int
    requested_top_k: int
    capacity_factor: float | None

    def info(self) -> dict:
        """The name line's facts (moeviz.hf.shipped.describe reads them)."""
        return {"name": "moeviz-lm", "params_total": sum(p.numel() for p in self.model.parameters()),
                "what": f"moeviz's own older language model ({self.model.cfg.n_layers} layers of its own PyTorch "
                        "code, not OLMoE's; kept so that old links show what they showed)",
                "trained_on": "Python's documentation (prose, code and grammar)"}

    def route(self, text: str) -> analysis.TextRouting:
        return analysis.route_text(self.model, self.tokenizer, text)

    def notes(self) -> list[str]:
        """Sentences saying where the model differs from what was asked for."""
        notes = []
        if self.num_experts != self.requested_experts:
            notes.append(f"No model with {self.requested_experts} experts is shipped; showing the nearest one, "
                         f"with {self.num_experts} experts (shipped: "
                         f"{', '.join(map(str, shipped_expert_counts()))}).")
        if self.top_k != self.requested_top_k:
            notes.append(f"k = {self.requested_top_k} is more than this model's {self.num_experts} experts; "
                         f"using k = {self.top_k}.")
        return notes

    def moe_layer_inputs(self, text: str, layer_index: int = 0) -> tuple[list[str], torch.Tensor, MoELayer]:
        """For the walkthrough: (token labels, the real hidden states (T, D) entering MoE layer `layer_index`,
        that MoELayer). `layer(x)` on those states reproduces the model's own routing of the text."""
        if not 0 <= layer_index < self.model.cfg.n_layers:
            raise ValueError(f"layer_index {layer_index} is out of range: the model has {self.model.cfg.n_layers} "
                             "layers.")
        routing = self.route(text)
        return list(routing.labels), routing.moe_inputs[layer_index].clone(), self.model.blocks[layer_index].moe

    def hidden_state(self, text: str, token_index: int, layer_index: int = 0) -> tuple[torch.Tensor, MoELayer]:
        """The real hidden state (D,) of token `token_index` entering MoE layer `layer_index`, and that layer."""
        labels, x, layer = self.moe_layer_inputs(text, layer_index)
        if not 0 <= token_index < len(labels):
            raise ValueError(f"token_index {token_index} is out of range: the text has {len(labels)} tokens.")
        return x[token_index], layer

    def walkthrough(self, text: str, layer_index: int = 0, max_tokens: int = MAX_TOKENS) -> WalkthroughRun:
        """The walkthrough's numbers for MoE layer `layer_index`, fed the real hidden states of `text`'s first
        `max_tokens` tokens."""
        labels, x, layer = self.moe_layer_inputs(text, layer_index)
        return run_walkthrough(layer, labels[:max_tokens], x[:max_tokens])

    def untrained_walkthrough(self, text: str, layer_index: int = 0, max_tokens: int = MAX_TOKENS) -> WalkthroughRun:
        """The same walkthrough through that layer as it was before training: a fresh MoELayer built from the
        layer's own MoEConfig, whose seed is the one the model was initialised with, so its router and experts
        are the weights training started from. Fed the same (trained) hidden states, so the two routers can be
        compared on exactly the same token."""
        labels, x, layer = self.moe_layer_inputs(text, layer_index)
        return run_walkthrough(initial_layer(layer), labels[:max_tokens], x[:max_tokens])

    def dense_run(self, text: str, layer_index: int = 0, max_tokens: int = MAX_TOKENS) -> DenseRun:
        """The walkthrough's "every expert votes" run on the same layer and hidden states as `walkthrough`."""
        _, x, layer = self.moe_layer_inputs(text, layer_index)
        return run_dense(layer, x[:max_tokens])


def initial_layer(layer: MoELayer) -> MoELayer:
    """`layer`'s shape and routing rule with the weights its seed draws: for a trained layer of TinyMoELM, the
    weights it had before training (its MoE layers draw from their own seeded generator)."""
    fresh = MoELayer(layer.cfg).eval()
    return fresh.to(layer.device)


def load_shipped(num_experts: int, top_k: int = 2, capacity_factor: float | None = None) -> ShippedLM:
    """The nearest shipped model, routing with `top_k` (clamped to its expert count) and `capacity_factor`."""
    chosen = nearest_expert_count(num_experts)
    k = max(1, min(top_k, chosen))
    tokenizer = shipped_tokenizer()
    model, _ = load_checkpoint(CHECKPOINT_DIR / checkpoint_name(chosen), file_digest(TOKENIZER_FILE), top_k=k,
                               capacity_factor=capacity_factor)
    return ShippedLM(model, tokenizer, chosen, num_experts, k, top_k, capacity_factor)

