"""Megatron-Core's router trace (as of Megatron-LM main, August 2026: megatron/core/transformer/moe/router_trace.py).

`--moe-routing-trace-path DIR` writes `router_trace_rank{N}.jsonl`, one JSON record per (step, block, layer):
    {"step", "stage": "pre_dispatch", "block": "decoder" | "mtp", "layer", "rank", "num_tokens", "topk",
     "top_indices": [[e, ...] x num_tokens]}  (+ "mtp_idx" for multi-token-prediction heads)
With `--moe-routing-trace-capture-logits` a sidecar `logits_rank{N}.bin` holds bf16 pre-top-k router logits and
each record gains "logit_offset", "logit_bytes", "logit_shape" ([num_tokens, num_experts]).
The file is read a line at a time (bounded memory). MTP records are left out of the per-layer counts (their layer
numbers restart at 0 and would mix with the decoder's); `layer` is the index inside the traced model chunk, so
with pipeline parallelism each rank's file numbers its own stage's layers from 0.
"""
from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Iterator

import numpy as np

from moeviz.routes.record import Chunk, RoutesError
from moeviz.routes.source import Source, whole_number

MAX_LINE_BYTES = 64 << 20  # one record: 8192 tokens x top-22 is under 1 MB of JSON


def chunks(source: Source, opts, notes: list[str]) -> Iterator[Chunk]:
    skipped_mtp = with_logits = 0
    with source.open() as f:
        for n, line in enumerate(_lines(f, source.name), start=1):
            if not line.strip():
                continue
            record = _record(line, n)
            if record.get("block", "decoder") == "mtp":
                skipped_mtp += 1
                continue
            has_logits = "logit_offset" in record
            with_logits += has_logits
            # read only if the chunk meets the window the caller keeps (the sidecar is E times the trace's size)
            logits = partial(read_logits, source.path.parent, record) if has_logits and source.path else None
            yield Chunk(record["layer"], record["top_indices"], logits=logits)
    if skipped_mtp:
        notes.append(f"{skipped_mtp} multi-token-prediction (mtp) records left out of the layer counts.")
    if with_logits:
        notes.append(f"{with_logits} records point into a bf16 logits sidecar (logits_rank{{N}}.bin)" + (
            "." if source.path else "; an upload is one file, so the sidecar is not read (open the trace from "
            "its folder, e.g. on the command line)."))


def _lines(f, name: str) -> Iterator[bytes]:
    while True:
        line = f.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_LINE_BYTES:
            raise RoutesError(f"{name}: a line longer than {MAX_LINE_BYTES >> 20} MB; expected one JSON record "
                              "per line (Megatron's router_trace_rank{N}.jsonl).")
        yield line


def _record(line: bytes, n: int) -> dict:
    where = f"line {n}"
    try:
        record = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise RoutesError(f"{where}: not a JSON record (expected Megatron's router trace JSONL).") from None
    if not isinstance(record, dict) or "top_indices" not in record:
        raise RoutesError(f"{where}: expected a record with \"layer\", \"num_tokens\", \"topk\" and "
                          "\"top_indices\" (Megatron's router trace).")
    layer = whole_number(record.get("layer"), f"{where}: layer")
    tokens = whole_number(record.get("num_tokens"), f"{where}: num_tokens")
    k = whole_number(record.get("topk"), f"{where}: topk", low=1)
    try:
        ids = np.array(record["top_indices"])
    except (ValueError, TypeError):
        ids = None
    if ids is None or ids.shape != (tokens, k) or (tokens and not np.issubdtype(ids.dtype, np.integer)):
        raise RoutesError(f"{where}: top_indices must be {tokens} x {k} whole numbers (num_tokens x topk).")
    record["layer"], record["top_indices"] = layer, ids.astype(np.int64).reshape(tokens, k)
    return record


def read_logits(trace_dir: str | Path, record: dict) -> np.ndarray:
    """One record's router logits (num_tokens, num_experts) as float32, from `logits_rank{rank}.bin`."""
    rank = whole_number(record.get("rank"), "rank")
    offset = whole_number(record.get("logit_offset"), "logit_offset")
    size = whole_number(record.get("logit_bytes"), "logit_bytes")
    shape = record.get("logit_shape")
    if not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(s, int) and s >= 0 for s in shape)) \
            or shape[0] * shape[1] * 2 != size:
        raise RoutesError(f"logit_shape {str(shape)[:40]} does not match logit_bytes {size} (2 bytes per bf16).")
    path = Path(trace_dir) / f"logits_rank{rank}.bin"
    if not path.is_file() or path.stat().st_size < offset + size:
        raise RoutesError(f"{path.name}: missing, or shorter than the record's offset + bytes.")
    with open(path, "rb") as f:
        f.seek(offset)
        raw = np.frombuffer(f.read(size), dtype="<u2").astype(np.uint32)
    return (raw << 16).view(np.float32).reshape(shape)  # bf16 is the top half of a float32
