"""Routing from elsewhere: read serving and training systems' routing dumps into one per-layer record.

    from moeviz.routes import summarize, FORMATS
    summary = summarize("routed_experts.npy")                       # format detected; RoutesError if unreadable
    summary = summarize(data, format="sglang", layers=48, top_k=8)  # a flat payload needs its shape
    summary.layers[0].tokens_per_expert; summary.load()             # (layers, E) counts for moeviz.eplb
    summary = summarize(path, paths=True, window_start=100)         # + summary.window (tokens 100..123 at every
                                                                    #   layer) and summary.pairs (co-selection)
    moeviz.routes.views: per-layer balance, drops at a capacity, journeys, co-selection, logits views
    python -m moeviz.routes summary FILE [--format NAME] [--layers N --top-k K] [--json]

Formats (FORMATS, moeviz.routes.formats): vllm, sglang, sglang-recorder, megatron, moeviz, summary. Each reader
yields one layer's rows (or counts) at a time and record.Tally adds them up, so memory stays bounded however long
the dump. Expert ids in the record are logical; dense layers are listed apart. No Streamlit here.
"""
from __future__ import annotations

from typing import NamedTuple

from moeviz.routes.formats import FORMATS, detect_format
from moeviz.routes.paths import WINDOW_TOKENS, Paths
from moeviz.routes.record import Chunk, LayerSummary, RoutesError, Summary, Tally
from moeviz.routes.source import MAX_UPLOAD_BYTES, Source


class ReadOptions(NamedTuple):
    layers: int | None = None  # num_hidden_layers, for payloads that do not say their shape
    top_k: int | None = None
    num_experts: int | None = None  # when given, an id at or above it is an error; counts have this length


def summarize(item, format: str | None = None, layers: int | None = None, top_k: int | None = None,
              num_experts: int | None = None, max_bytes: int | None = None, paths: bool = False,
              window_start: int = 0, window_tokens: int = WINDOW_TOKENS) -> Summary:
    """Per-layer tokens, k and tokens per expert of a dump (a path, or bytes as uploaded). With `paths`, the
    same pass keeps the window of tokens window_start.. and the co-selection of consecutive layers (slower)."""
    for name, value in (("layers", layers), ("top_k", top_k), ("num_experts", num_experts)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise RoutesError(f"{name} must be a whole number >= 1, got {value!r}.")
    source = Source.of(item, max_bytes)
    name = format or detect_format(source)
    if name not in FORMATS:
        raise RoutesError(f"unknown format {str(name)[:40]!r}; one of: {', '.join(FORMATS)}.")
    notes: list[str] = []
    tally = Tally(num_experts, Paths(window_start, window_tokens) if paths else None)
    for chunk in FORMATS[name].chunks(source, ReadOptions(layers, top_k, num_experts), notes):
        tally.add(chunk)
    return tally.summary(name, notes)


__all__ = ["FORMATS", "Chunk", "LayerSummary", "MAX_UPLOAD_BYTES", "ReadOptions", "RoutesError", "Source",
           "Summary", "Tally", "detect_format", "summarize"]
