"""The /replicas page's cached runs (read-only, shared by sessions), bounded like moeviz.app.runners'.

Routing summaries are small (layers x experts counts, a window of tokens, E x E co-selection per layer pair),
so caching them costs little; the uploads are keyed by
the upload's id (not its bytes) and read under moeviz.routes' upload limit. The checkpoint's routing comes from
runners.checkpoint_routing (the one cache of checkpoints) and is read through the moeviz trace reader, so a
checkpoint and an uploaded trace of it give the same record.
"""
from __future__ import annotations

import streamlit as st

from moeviz.app.runners import checkpoint_routing
from moeviz.hf.tracefile import routing_json
from moeviz.routes import MAX_UPLOAD_BYTES, Summary, summarize
from moeviz.routes.example import example_npy

MAX_ENTRIES = {  # a summary also holds its token window and one E x E co-selection table per pair of layers
    "example_routes": 4,  # the built-in example's summary, per token window (8 layers x 32 experts)
    "uploaded_routes": 8,  # an upload's summary, per upload id, shape hint and window (bytes not kept)
    "checkpoint_routes": 16,  # a text through the checkpoint, per MoE layer, with its router logits
}


@st.cache_resource(max_entries=MAX_ENTRIES["example_routes"], show_spinner=False)
def example_routes(window_start: int = 0) -> Summary:
    """The built-in example: a synthetic dump in vLLM's layout, read by the vLLM reader."""
    return summarize(example_npy(), format="vllm", paths=True, window_start=window_start)


@st.cache_resource(max_entries=MAX_ENTRIES["uploaded_routes"], show_spinner="Reading the dump…")
def uploaded_routes(file_id: str, _data: bytes, layers: int | None, top_k: int | None,
                    window_start: int = 0) -> Summary:
    """An uploaded dump, format detected, read under MAX_UPLOAD_BYTES; RoutesError names what was expected."""
    return summarize(_data, layers=layers, top_k=top_k, max_bytes=MAX_UPLOAD_BYTES, paths=True,
                     window_start=window_start)


@st.cache_resource(max_entries=MAX_ENTRIES["checkpoint_routes"], show_spinner="Routing the text…")
def checkpoint_routes(name: str, path: str, text: str, window_start: int = 0) -> Summary:
    """`text` through checkpoint `name`, summarised per MoE layer; CheckpointError if refused."""
    return summarize(routing_json(checkpoint_routing(name, path, text)).encode(), format="moeviz",
                     max_bytes=1 << 30, paths=True, window_start=window_start)
