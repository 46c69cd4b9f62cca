"""The same batch routed twice: dropless (every chosen expert takes every copy) and under a capacity limit.

Dropless MoE (HF Mixtral, OLMoE, DeepSeek-V3, MegaBlocks) never drops a copy: the cost of uneven routing is
uneven work, set by the busiest expert when each expert sits on its own device. A capacity limit (Switch,
GShard) caps every expert at C copies, drops the rest, and a fixed buffer computes E * C rows, padding and all.
Both runs are the real layer's, on the same seeded tokens (those of moeviz.parallel.capacity.capacity_demo).
"""
from __future__ import annotations

from typing import NamedTuple

from moeviz.config import MoEConfig
from moeviz.parallel.capacity import capacity_demo, dropped_tokens
from moeviz.routers import router_spec


class DroplessVsCapacity(NamedTuple):
    num_tokens: int
    slots: int  # T * k copies routed
    capacity_factor: float
    capacity: int  # C per expert under the limit
    rows_dropless: list[int]  # (E,) copies each expert computes without a limit
    rows_kept: list[int]  # (E,) copies each expert computes under the limit (<= C)
    dropped_slots: int  # copies turned away by a full expert
    tokens_lost_all: int  # tokens whose every copy was dropped: only the residual path carries them
    tokens_changed: int  # tokens that lost at least one copy under the limit: their output differs
    max_output_change: float  # largest |y_dropless - y_capacity| over the batch

    @property
    def busiest_over_mean(self) -> float:
        """Dropless: the busiest expert's rows / the mean rows (what a device per expert waits for)."""
        return max(self.rows_dropless) / (sum(self.rows_dropless) / len(self.rows_dropless))

    @property
    def buffer_rows(self) -> int:
        """Rows a fixed capacity buffer computes: C for every expert, padding rows included."""
        return self.capacity * len(self.rows_kept)


def dropless_vs_capacity(cfg: MoEConfig, num_tokens: int, token_seed: int,
                         capacity_factor: float) -> DroplessVsCapacity:
    """Route one seeded batch through the layer of `cfg` without a limit and with `capacity_factor`.

    "Without a limit" is C = T (capacity factor N / k): no expert can receive more than T copies, so
    nothing drops, for Switch too (whose config always has a factor). Expert choice has no dropless form."""
    if router_spec(cfg.router).experts_choose:
        raise ValueError("expert choice always has a capacity: each expert picks exactly C tokens.")
    unlimited = capacity_demo(cfg.replace(capacity_factor=cfg.num_experts / cfg.top_k), num_tokens, token_seed)
    limited = capacity_demo(cfg.replace(capacity_factor=capacity_factor), num_tokens, token_seed)
    a, b = unlimited.trace, limited.trace
    assert not a.dropped.any()  # C = T holds every copy
    change = (a.output - b.output).abs().amax(dim=1)  # (T,)
    return DroplessVsCapacity(
        num_tokens, a.topk_indices.numel(), float(capacity_factor), int(b.capacity),
        a.tokens_per_expert.tolist(), b.tokens_per_expert.tolist(), int(b.dropped.sum()),
        len(dropped_tokens(b)), int(b.dropped.any(dim=1).sum()), float(change.max()))


__all__ = ["DroplessVsCapacity", "dropless_vs_capacity"]
