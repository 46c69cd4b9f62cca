"""The routed experts: E small MLPs whose weights are stacked into single tensors.

Stacking (instead of E nn.Linear modules) lets one batched matmul run many experts at once.
Shapes: E experts, D = d_model, H = d_hidden, n rows (token copies) for one expert.
    w_in  (E, D, m*H)  m = 2 for SwiGLU (gate and up projections side by side), else 1
    w_out (E, H, D)
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class Experts(nn.Module):
    def __init__(self, num_experts: int, d_model: int, d_hidden: int, activation: str,
                 generator: torch.Generator):
        super().__init__()
        self.activation = activation
        width = 2 * d_hidden if activation == "swiglu" else d_hidden
        # nn.Linear's default init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn from the layer's seeded generator.
        self.w_in = nn.Parameter(_uniform((num_experts, d_model, width), d_model, generator))
        self.w_out = nn.Parameter(_uniform((num_experts, d_hidden, d_model), d_hidden, generator))

    @property
    def num_experts(self) -> int:
        return self.w_in.shape[0]

    def _act(self, h: torch.Tensor) -> torch.Tensor:
        if self.activation == "swiglu":
            gate, up = h.chunk(2, dim=-1)
            return F.silu(gate) * up
        return F.gelu(h) if self.activation == "gelu" else F.relu(h)

    def forward_expert(self, e: int, x: torch.Tensor) -> torch.Tensor:
        """Expert e alone on its rows: (n, D) -> (n, D)."""
        return self._act(x @ self.w_in[e]) @ self.w_out[e]

    def forward_padded(self, x_padded: torch.Tensor) -> torch.Tensor:
        """Every expert on its own padded buffer in one batched matmul: (E, C, D) -> (E, C, D)."""
        return torch.bmm(self._act(torch.bmm(x_padded, self.w_in)), self.w_out)

    def forward_grouped(self, x_sorted: torch.Tensor, counts: list[int]) -> torch.Tensor:
        """Rows sorted by expert, counts[e] rows for expert e; idle experts are skipped: (n, D) -> (n, D)."""
        if torch.is_grad_enabled():  # autograd cannot follow out=, so concatenate the blocks instead
            blocks = torch.split(x_sorted, counts)
            outs = [self.forward_expert(e, rows) for e, rows in enumerate(blocks) if len(rows)]
            return torch.cat(outs) if outs else x_sorted.new_zeros(x_sorted.shape)
        out = torch.empty_like(x_sorted)  # inference: each expert writes its block in place (no 2nd copy)
        start = 0
        for e, n in enumerate(counts):
            if n:
                rows = slice(start, start + n)
                torch.matmul(self._act(x_sorted[rows] @ self.w_in[e]), self.w_out[e], out=out[rows])
                start += n
        return out

    def forward_all(self, x: torch.Tensor) -> torch.Tensor:
        """Every expert on every token (the dense-all reference): (T, D) -> (E, T, D)."""
        return self.forward_padded(x.unsqueeze(0).expand(self.num_experts, -1, -1))


def _uniform(shape, fan_in: int, generator: torch.Generator) -> torch.Tensor:
    bound = 1.0 / math.sqrt(fan_in)
    return (torch.rand(shape, generator=generator) * 2 - 1) * bound
