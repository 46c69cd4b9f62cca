"""Token paths from a streamed dump, gathered by record.Tally in its one pass, in bounded memory.

- A window of tokens chosen up front (positions start .. start + W, counted along each layer's rows across
  requests or steps): their expert ids at every layer, how many copies reached each of those experts before them
  (the rank a position-order capacity limit reads), and their router logits where the dump has logits.
  Memory: W x layers x k ids, plus W x E logits per layer.
- Co-selection across layers: for a pair of layers (a, b), how many tokens chose expert i at a and expert j at b
  (every pair of their k experts counts). Memory: one E x E table per pair. A chunk is paired only with the chunk
  just before it, when that one holds the same token rows of an earlier layer: every reader yields a block's
  layers one after another (vLLM, SGLang and Megatron interleave layers per block, request or step; a moeviz
  trace gives whole layers in order), so nothing is buffered beyond one chunk.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

WINDOW_TOKENS = 24  # the journey's default window: a screen of rows
MAX_WINDOW_TOKENS = 256
MAX_PAIR_EXPERTS = 1024  # an E x E table above this (8 MB of int64 per pair) is not kept


class Previous(NamedTuple):
    layer: int
    start: int
    ids: np.ndarray  # (n, k) int64, -1 = none
    routed: np.ndarray  # (n,) bool: the row went through the layer's router


@dataclass
class Window:
    """The window's tokens: position `start` + row."""
    start: int
    layers: list[int]  # the MoE layers, in order
    ids: np.ndarray  # (W, L, k) int64 expert ids, -1 where the token has none (not in the dump, or unused)
    ranks: np.ndarray  # (W, L, k) copies of the same expert routed before this one (token order), -1 = none
    logits: dict[int, np.ndarray] = field(default_factory=dict)  # layer -> (W, E) float32, rows of NaN if absent

    @property
    def num_tokens(self) -> int:
        return self.ids.shape[0]


@dataclass
class CoSelection:
    counts: np.ndarray  # (E, E) int64: tokens with expert i at layer a and expert j at layer b
    chose: np.ndarray  # (E,) int64: tokens paired here that chose expert i at layer a
    tokens: int  # tokens routed at both layers


class Paths:
    """The accumulator: `add` one layer's chunk, `window()` and `pairs` at the end."""

    def __init__(self, window_start: int = 0, window_tokens: int = WINDOW_TOKENS):
        if not 0 <= window_start or not 1 <= window_tokens <= MAX_WINDOW_TOKENS:
            raise ValueError(f"window: start >= 0 and 1..{MAX_WINDOW_TOKENS} tokens.")
        self.start, self.stop = window_start, window_start + window_tokens
        self._ids: dict[int, dict[int, np.ndarray]] = {}  # layer -> position -> ids row
        self._ranks: dict[int, dict[int, np.ndarray]] = {}
        self._logits: dict[int, dict[int, np.ndarray]] = {}
        self._previous: Previous | None = None
        self.pairs: dict[tuple[int, int], CoSelection] = {}
        self.notes: list[str] = []

    def add(self, layer: int, start: int, ids: np.ndarray, routed: np.ndarray, counts_before: np.ndarray,
            logits=None) -> None:
        """Rows start .. start + n of `layer`: ids (n, k) int64 (-1 = none), routed (n,) bool, counts_before
        (E,) the layer's copies per expert before this chunk; logits (n, E), or a callable giving them (read
        only when the chunk meets the window)."""
        self._keep_window(layer, start, ids, routed, counts_before, logits)
        current = Previous(layer, start, ids, routed)
        before, self._previous = self._previous, current
        if before is not None and before.layer < layer and before.start == start and len(before.ids) == len(ids):
            self._pair(before, current)

    def _keep_window(self, layer, start, ids, routed, counts_before, logits) -> None:
        lo, hi = max(start, self.start), min(start + len(ids), self.stop)
        if lo >= hi:
            return
        rows = self._ids.setdefault(layer, {})
        ranks = self._ranks.setdefault(layer, {})
        table = logits() if callable(logits) else logits
        for position in range(lo, hi):
            r = position - start
            row = np.where(routed[r], ids[r], -1)
            rows[position] = row
            # copies of each of this token's experts routed before it: before the chunk, plus earlier rows in it
            earlier = ids[:r][routed[:r]]
            ranks[position] = np.array([-1 if e < 0 else int(_at(counts_before, e)) + int((earlier == e).sum())
                                        for e in row], dtype=np.int64)
            if table is not None:
                self._logits.setdefault(layer, {})[position] = np.asarray(table[r], dtype=np.float32)

    def _pair(self, a: Previous, b: Previous) -> None:
        both = a.routed & b.routed
        if not both.any():
            return
        ia, ib = a.ids[both], b.ids[both]
        E = int(max(ia.max(), ib.max())) + 1
        if E > MAX_PAIR_EXPERTS:
            if not self.notes:
                self.notes.append(f"co-selection not kept: more than {MAX_PAIR_EXPERTS} experts per layer.")
            return
        flat = (ia[:, :, None] * E + ib[:, None, :]).reshape(-1)
        valid = ((ia[:, :, None] >= 0) & (ib[:, None, :] >= 0)).reshape(-1)
        counts = np.bincount(flat[valid], minlength=E * E).reshape(E, E)
        chose = np.bincount(ia[ia >= 0], minlength=E)
        pair = self.pairs.setdefault((a.layer, b.layer), CoSelection(np.zeros((0, 0), np.int64),
                                                                   np.zeros(0, np.int64), 0))
        size = max(E, len(pair.chose))
        pair.counts = _grow(pair.counts, (size, size)) + _grow(counts, (size, size))
        pair.chose = _grow(pair.chose, (size,)) + _grow(chose, (size,))
        pair.tokens += int(both.sum())

    def window(self, layers: list[int], num_experts: int) -> Window:
        """The window over the MoE `layers`; rows past the end of the dump are -1."""
        W = self.stop - self.start
        k = max([len(r) for rows in self._ids.values() for r in rows.values()] + [1])
        ids = np.full((W, len(layers), k), -1, dtype=np.int64)
        ranks = np.full_like(ids, -1)
        logits = {}
        for i, layer in enumerate(layers):
            for position, row in self._ids.get(layer, {}).items():
                ids[position - self.start, i, :len(row)] = row
                ranks[position - self.start, i, :len(row)] = self._ranks[layer][position]
            if layer in self._logits:
                table = np.full((W, num_experts), np.nan, dtype=np.float32)
                for position, row in self._logits[layer].items():
                    table[position - self.start, :len(row)] = row
                logits[layer] = table
        used = (ids >= 0).any(axis=(0, 1))  # drop unused columns (SGLang's recorder is 8 wide whatever k is)
        keep = max(1, int(np.flatnonzero(used).max(initial=0)) + 1)
        seen = max([p + 1 for rows in self._ids.values() for p in rows] + [self.start]) - self.start
        return Window(self.start, list(layers), ids[:seen, :, :keep], ranks[:seen, :, :keep],
                      {layer: table[:seen] for layer, table in logits.items()})  # no rows past the dump's end


def _at(counts: np.ndarray, e: int) -> int:
    return counts[e] if e < len(counts) else 0


def _grow(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.pad(a, [(0, s - n) for s, n in zip(shape, a.shape)])
