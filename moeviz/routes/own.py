"""moeviz's own files: a checkpoint trace (`python -m moeviz.hf trace`, read by moeviz.hf.tracefile) and a
routing summary (`python -m moeviz.routes summary --json`), so a summary made on a GPU box can be planned on a
laptop."""
from __future__ import annotations

from typing import Iterator

import numpy as np

from moeviz.hf.tracefile import TraceFileError, read_trace
from moeviz.routes.record import Chunk, RoutesError
from moeviz.routes.source import Source, json_document, whole_number


def trace_chunks(source: Source, opts, notes: list[str]) -> Iterator[Chunk]:
    try:
        routing = read_trace(source.document(), max_bytes=source.max_bytes)
    except TraceFileError as error:
        raise RoutesError(str(error)) from None
    notes.append(f"{routing.model_name or 'a checkpoint'}: {len(routing.token_ids)} tokens of its trace file "
                 "(router logits included).")
    for layer, trace in zip(routing.layers, routing.traces):
        yield Chunk(layer, trace.topk_indices.numpy(), num_experts=trace.num_experts,
                    logits=trace.router_logits.float().numpy())


def summary_chunks(source: Source, opts, notes: list[str]) -> Iterator[Chunk]:
    doc = json_document(source)
    layers = doc.get("layers") if isinstance(doc, dict) else None
    if not isinstance(layers, list) or not isinstance(doc.get("format"), str):
        raise RoutesError("expected a moeviz routing summary: {\"format\": ..., \"layers\": [{\"layer\", "
                          "\"tokens\", \"top_k\", \"tokens_per_expert\"}, ...]}.")
    notes.append(f"a summary of a {doc['format'][:40]} dump (counts only).")
    for n, entry in enumerate(layers):
        where = f"layers[{n}]"
        if not isinstance(entry, dict):
            raise RoutesError(f"{where}: expected an object.")
        counts = entry.get("tokens_per_expert")
        if not isinstance(counts, list) or not counts:
            raise RoutesError(f"{where}: tokens_per_expert must be a list of counts.")
        counts = np.array([whole_number(c, f"{where}: tokens_per_expert") for c in counts], dtype=np.int64)
        k = entry.get("top_k")
        k = None if k is None else whole_number(k, f"{where}: top_k", low=1)
        yield Chunk(whole_number(entry.get("layer"), f"{where}: layer"), counts=counts, top_k=k)
