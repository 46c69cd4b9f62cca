"""Forward hooks that record what each MoE block of a transformers model saw and produced.

    blocks, dense = find_blocks(decoder_layers, family)
    with Capture(blocks, states=True) as records:
        model(input_ids)
    records[layer]["router_logits"]   # (T, E) exactly as the model's router returned them

Hooks only read: they never change an output, so the model runs as it always does. Several forward calls under
one Capture (a long text routed in windows of the model's context) append their tokens, in call order.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from moeviz.hf.families import Family


@dataclass(frozen=True)
class MoEBlock:
    layer: int  # decoder layer index
    block: nn.Module  # the sparse MoE block (router + experts [+ shared experts])
    router: nn.Module
    experts: nn.Module  # called as experts(hidden (T, D), top_k_index (T, k), top_k_weights (T, k)) -> (T, D)
    shared: nn.Module | None  # shared expert(s), or None
    shared_gate: nn.Module | None  # Qwen2-MoE's sigmoid gate on the shared expert, or None


def find_blocks(layers, family: Family) -> tuple[list[MoEBlock], list[tuple[int, str]]]:
    """The MoE block of every decoder layer that has one; (layer, feed-forward class name) for the others."""
    blocks, dense = [], []
    for i, layer in enumerate(layers):
        block = next((m for m in layer.children() if hasattr(m, family.router_attr) and hasattr(m, "experts")),
                     None)
        if block is None:
            ffn = getattr(layer, "mlp", None)
            dense.append((i, type(ffn).__name__ if ffn is not None else "no feed-forward"))
            continue
        shared = getattr(block, "shared_expert", None) or getattr(block, "shared_experts", None)
        blocks.append(MoEBlock(i, block, getattr(block, family.router_attr), block.experts, shared,
                               getattr(block, "shared_expert_gate", None)))
    return blocks, dense


def _first(output):
    return output[0] if isinstance(output, tuple) else output


class Capture:
    """Context manager: hooks on every block's router (always) and on the block and its shared expert
    (with states=True); yields {layer: {"router_logits", "input", "output", "shared", "shared_gate"}}."""

    def __init__(self, blocks: list[MoEBlock], states: bool = False):
        self.blocks, self.states = blocks, states
        self.records: dict[int, dict[str, torch.Tensor]] = {}
        self._handles = []

    def __enter__(self) -> dict[int, dict[str, torch.Tensor]]:
        for b in self.blocks:
            record = self.records.setdefault(b.layer, {})
            self._hook(b.router, record, "router_logits")
            if self.states:
                self._handles.append(b.block.register_forward_hook(self._block_hook(record)))
                self._hook(b.shared, record, "shared")
                self._hook(b.shared_gate, record, "shared_gate")
        return self.records

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook(self, module: nn.Module | None, record: dict, key: str) -> None:
        if module is None:
            return

        def hook(_module, _args, output):
            value = _first(output).detach()
            _append(record, key, value.reshape(-1, value.shape[-1]))  # (T, ...) whatever the batch layout

        self._handles.append(module.register_forward_hook(hook))

    @staticmethod
    def _block_hook(record: dict):
        def hook(_module, args, output):
            x, y = args[0].detach(), _first(output).detach()
            _append(record, "input", x.reshape(-1, x.shape[-1]))
            _append(record, "output", y.reshape(-1, y.shape[-1]))
        return hook


def _append(record: dict, key: str, value: torch.Tensor) -> None:
    """A call's (T, ...) rows after the rows earlier calls under the same Capture recorded."""
    record[key] = torch.cat([record[key], value]) if key in record else value
