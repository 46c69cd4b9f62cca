"""Routing from elsewhere: read serving and training systems' routing dumps into one per-layer record.

    from moeviz.routes import summarize, FORMATS
    summary = summarize("routed_experts.npy")                       # format detected; RoutesError if unreadable
    summary = summarize(data, format="sglang", layers=48, top_k=8)  # a flat payload needs its shape
    summary.layers[0].tokens_per_expert; summary.load()             # (layers, E) counts for moeviz.eplb
    summary = summarize(path, paths=True, window_start=100)         # + summary.window (tokens 100..123 at every
                                                                    #   layer) and summary.pairs (co-selection)
    summary = summarize([rank0_pt, rank1_pt])                       # several files of one format, added up
    moeviz.routes.views: per-layer balance, drops at a capacity, journeys, co-selection, logits views
    python -m moeviz.routes summary FILE [FILE ...] [--format NAME] [--layers N --top-k K] [--json]

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
    """Per-layer tokens, k and tokens per expert of a dump (a path, or bytes as uploaded), or of several dumps of
    one format added up (a list: e.g. SGLang's per-rank recorder files). With `paths`, the same pass keeps the
    window of tokens window_start.. and the co-selection of consecutive layers (slower)."""
    for name, value in (("layers", layers), ("top_k", top_k), ("num_experts", num_experts)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise RoutesError(f"{name} must be a whole number >= 1, got {value!r}.")
    items = list(item) if isinstance(item, (list, tuple)) else [item]
    if not items:
        raise RoutesError("no dump to read.")
    sources = [Source.of(one, max_bytes) for one in items]
    names = [format or detect_format(source) for source in sources]
    if len(set(names)) > 1:
        raise RoutesError("the files are in different formats (" + ", ".join(
            f"{s.name}: {n}" for s, n in zip(sources, names)) + "); give files of one format to add up.")
    name = names[0]
    if name not in FORMATS:
        raise RoutesError(f"unknown format {str(name)[:40]!r}; one of: {', '.join(FORMATS)}.")
    notes: list[str] = []
    tally = Tally(num_experts, Paths(window_start, window_tokens) if paths else None)
    for source in sources:
        for chunk in FORMATS[name].chunks(source, ReadOptions(layers, top_k, num_experts), notes):
            tally.add(chunk)
    if len(sources) > 1:
        notes.append(f"{len(sources)} files added up.")
    return tally.summary(name, notes)


__all__ = ["FORMATS", "Chunk", "LayerSummary", "MAX_UPLOAD_BYTES", "ReadOptions", "RoutesError", "Source",
           "Summary", "Tally", "detect_format", "summarize"]
