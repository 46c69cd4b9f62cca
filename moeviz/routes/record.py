"""The one per-layer routing record every reader produces, and the streaming count that builds it.

Readers yield `Chunk`s (one layer's rows of top-k expert ids, or one layer's counts when the dump holds only
counts); `Tally` adds them up in one pass, holding a counter per layer and never the rows themselves, so a dump
of any length is summarised in bounded memory. The result is a `Summary`: per MoE layer the tokens routed, k and
tokens per expert (logical expert ids), plus the dense layers found and notes on what was skipped. Where the
dump has per-token rows, the same pass also keeps (moeviz.routes.paths) a window of tokens' experts at every layer
and the co-selection of consecutive layers, each in memory that does not grow with the dump.

Traps handled here, once, for every format (see docs/systems.md "Routing dumps"):
- a row of -1 is a token the layer never routed here (a dense layer, a padding row, or a position vLLM served from
  its prefix cache, so this request never computed it); -1 entries inside a row are unused top-k columns
  (SGLang's per-token recorder is 8 wide whatever k is);
- a row of k >= 2 zeros is a capture buffer that was never written (vLLM and SGLang zero-fill theirs): a real
  top-k never picks one expert twice, so it is skipped, and a layer made only of such rows is dense;
- any other repeated expert in a row is an error: the file is not what its format says.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from moeviz.routes.paths import CoSelection, Paths, Window

MAX_EXPERTS = 1 << 16  # ids above this are not a real model's experts; refusing them bounds the counters


class RoutesError(ValueError):
    """A routing dump that cannot be read; the message names what was expected."""


class Chunk(NamedTuple):
    layer: int
    topk_ids: np.ndarray | None = None  # (n, k) integer expert ids, -1 = none; None for a count-only chunk
    counts: np.ndarray | None = None  # (E,) tokens per expert, for dumps that hold only counts
    top_k: int | None = None  # k of a count-only chunk, when the dump (or the user) says it
    num_experts: int | None = None  # the layer's expert count when the dump says it (experts nobody chose count)
    logits: object = None  # (n, E) router logits of the rows, or a callable reading them (Megatron's sidecar)


@dataclass
class LayerSummary:
    layer: int
    tokens: int | None  # tokens routed (None: a count-only dump that does not say k)
    top_k: int | None
    tokens_per_expert: list[int]  # (E,) logical experts

    def to_dict(self) -> dict:
        return {"layer": self.layer, "tokens": self.tokens, "top_k": self.top_k,
                "tokens_per_expert": self.tokens_per_expert}


@dataclass
class Summary:
    format: str
    layers: list[LayerSummary]
    dense_layers: list[int] = field(default_factory=list)  # layers with no routed token (no experts)
    notes: list[str] = field(default_factory=list)  # what was skipped or assumed, for the reader to see
    # With Tally(paths=Paths(...)) only: a window of tokens' experts at every layer (None when the dump holds
    # only counts), and the co-selection of each pair of consecutive layers found in the stream.
    window: Window | None = None
    pairs: dict[tuple[int, int], CoSelection] = field(default_factory=dict)

    @property
    def num_experts(self) -> int:
        return max((len(s.tokens_per_expert) for s in self.layers), default=0)

    def load(self) -> np.ndarray:
        """(layers, E) tokens per expert: what a replication planner reads."""
        return np.array([s.tokens_per_expert for s in self.layers], dtype=np.int64).reshape(len(self.layers), -1)

    def load_share(self) -> np.ndarray:
        """(layers, E) each layer's share of its copies per expert; 0 across a layer with none (a dense layer)."""
        load = self.load().astype(np.float64)
        totals = load.sum(axis=1, keepdims=True)
        return np.divide(load, totals, out=np.zeros_like(load), where=totals > 0)

    def to_dict(self) -> dict:
        """The JSON shape of `python -m moeviz.routes summary --json`."""
        return {"format": self.format, "layers": [s.to_dict() for s in self.layers]}


class _Layer:
    def __init__(self):
        self.counts = np.zeros(0, dtype=np.int64)
        self.tokens = 0
        self.top_k = 0
        self.count_only_k: int | None = None
        self.skipped = 0  # rows with no routing (-1 or zero-filled)
        self.rows = 0  # rows seen, routed or not: a token's position along this layer
        self.count_only = False

    def add_counts(self, counts: np.ndarray) -> None:
        if len(counts) > len(self.counts):
            self.counts = np.pad(self.counts, (0, len(counts) - len(self.counts)))
        self.counts[:len(counts)] += counts


class Tally:
    """Adds up chunks layer by layer; `summary()` gives the record."""

    def __init__(self, num_experts: int | None = None, paths: Paths | None = None):
        self.num_experts = num_experts
        self._layers: dict[int, _Layer] = {}
        self.paths = paths  # token windows and co-selection too (costs time: k x k pairs per token and layer)

    def add(self, chunk: Chunk) -> None:
        state = self._layers.setdefault(int(chunk.layer), _Layer())
        if chunk.num_experts:
            self._check_experts(chunk.layer, chunk.num_experts - 1, chunk.num_experts)
            state.add_counts(np.zeros(chunk.num_experts, dtype=np.int64))
        if chunk.topk_ids is None and chunk.counts is None:
            return
        if chunk.topk_ids is None:
            counts = np.asarray(chunk.counts, dtype=np.int64)
            if counts.ndim != 1 or (counts < 0).any():
                raise RoutesError(f"layer {chunk.layer}: expected a 1-D array of token counts >= 0.")
            self._check_experts(chunk.layer, len(counts) - 1 if counts.any() else -1, len(counts))
            state.add_counts(counts)
            state.count_only, state.count_only_k = True, chunk.top_k
            return
        ids = np.asarray(chunk.topk_ids)
        if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
            raise RoutesError(f"layer {chunk.layer}: expected (tokens, k) integer expert ids, got "
                              f"{ids.dtype} with shape {ids.shape}.")
        if ids.size == 0:
            return
        ids = ids.astype(np.int64, copy=False)
        low = int(ids.min())
        if low < -1:
            raise RoutesError(f"layer {chunk.layer}: expert id {low}; ids are >= 0, or -1 for no expert.")
        used = ids >= 0
        empty = ~used.any(axis=1)
        if ids.shape[1] >= 2:
            empty |= (ids == 0).all(axis=1)  # a zero-filled buffer row: real top-k never repeats an expert
        rows = ids[~empty]
        before = state.counts.copy()
        if len(rows):
            self._check_rows(chunk.layer, rows)
            valid = rows[rows >= 0]
            self._check_experts(chunk.layer, int(valid.max()), None)
            state.add_counts(np.bincount(valid, minlength=self.num_experts or 0))
            state.top_k = max(state.top_k, int((rows >= 0).sum(axis=1).max()))
        if self.paths is not None:
            self.paths.add(int(chunk.layer), state.rows, ids, ~empty, before, chunk.logits)
        state.rows += len(ids)
        state.tokens += len(rows)
        state.skipped += int(empty.sum())

    def _check_rows(self, layer: int, rows: np.ndarray) -> None:
        s = np.sort(rows, axis=1)
        repeat = (s[:, 1:] == s[:, :-1]) & (s[:, 1:] >= 0)
        if repeat.any():
            r, j = map(int, np.argwhere(repeat)[0])
            raise RoutesError(f"layer {layer}: a token lists expert {int(s[r, j])} twice; a top-k choice names "
                              "distinct experts (is this the right format, and are the ids unshuffled?).")

    def _check_experts(self, layer: int, highest: int, length: int | None) -> None:
        limit = self.num_experts or MAX_EXPERTS
        if highest >= limit or (length is not None and self.num_experts and length > self.num_experts):
            raise RoutesError(f"layer {layer}: expert id {max(highest, (length or 0) - 1)} but the model has "
                              f"{limit} experts (ids 0..{limit - 1}).")

    def summary(self, fmt: str, notes: list[str] | None = None) -> Summary:
        notes = list(notes or [])
        E = max([self.num_experts or 0] + [len(s.counts) for s in self._layers.values()])
        layers, dense = [], []
        for index in sorted(self._layers):
            state = self._layers[index]
            if not state.counts.any():
                dense.append(index)
                continue
            counts = np.pad(state.counts, (0, E - len(state.counts))).tolist()
            if state.count_only:
                k = state.count_only_k
                tokens = sum(counts) // k if k else None
                layers.append(LayerSummary(index, tokens, k, counts))
            else:
                layers.append(LayerSummary(index, state.tokens, state.top_k, counts))
                if state.top_k == 1 and counts[0] == sum(counts):
                    notes.append(f"layer {index}: every token chose expert 0 with k = 1; a dense layer's "
                                 "zero-filled capture reads like this.")
            if state.skipped:
                notes.append(f"layer {index}: {state.skipped} rows had no routing (-1: dense, padding or "
                             "prefix-cached; or zero-filled) and were skipped.")
        if dense:
            notes.append(f"dense layers (no routed token): {', '.join(map(str, dense))}.")
        if not layers:
            raise RoutesError("the file holds no routed token in any layer.")
        if self.paths is None:
            return Summary(fmt, layers, dense, notes)
        moe = [s.layer for s in layers]
        window = self.paths.window(moe, E) if any(self._layers[i].rows for i in moe) else None
        pairs = {p: c for p, c in self.paths.pairs.items() if c.tokens and p[0] in moe and p[1] in moe}
        return Summary(fmt, layers, dense, notes + self.paths.notes, window, pairs)
