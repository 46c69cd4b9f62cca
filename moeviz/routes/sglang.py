"""SGLang's routing dumps (as of sglang main, late 2026).

Per request (`--enable-return-routed-experts`, request field `return_routed_experts`): `meta_info.routed_experts`
(or `choices[i].routed_experts` on the OpenAI endpoints) is base64 of flat expert ids, shape
(seqlen - 1 - start_len, num_hidden_layers, top_k). Capture: python/sglang/srt/state_capturer/routed_experts.py
on the shared python/sglang/srt/state_capturer/base.py, whose `BaseTopkCapturer.get_topk` slices positions
[start_len : seqlen - 1] (the last sampled token is never forwarded; zero-filled buffers, so a dense layer reads
as expert 0). start_len is the request's `routed_experts_start_len` (default 0, at most prompt_tokens): the rows
begin there, so a response that says it (in meta_info, or in the request saved beside it) expects that many
fewer rows. The ids are int32 unless `meta_info.routed_experts_dtype` names another (SGLANG_ROUTED_EXPERTS_DTYPE:
uint16 or uint8; the server falls back to int32 when an id does not fit). The payload does not say its shape: the
reader needs num_hidden_layers and top_k (`--layers N --top-k K`). The ids are those after
`topk_ids_logical_to_physical`: physical slots when EPLB replicates experts.

Whole-server recorder (`--expert-distribution-recorder-mode`, python/sglang/srt/eplb/expert_distribution.py),
torch.save files:
- stat and stat_approx (both `_StatAccumulator`): one file, written by rank 0, `{"rank", "logical_count": (steps,
  layers, logical experts), "average_utilization_rate_over_window"}`: already logical, summed over ranks;
- per_pass / per_token: one file per rank (`expert_distribution_recorder_{time}_{rank}.pt`), holding that rank's
  passes: {"records": [...], "last_physical_to_logical_map": (layers, physical experts)}; a record has
  "global_physical_count" (layers, physical) and, per_token, "topk_ids_of_layer" (layers, tokens, 8): physical
  ids, -1 where unused (the buffer is 8 wide whatever k is, and a dense layer is never written). Give every
  rank's file to summarize (a list) to add them up.
Physical ids are mapped to logical ones with the map in the file (the map at dump time).
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from moeviz.routes.record import Chunk, RoutesError
from moeviz.routes.source import Source, b64, json_document, torch_document, whole_number
from moeviz.routes.vllm import layer_chunks


# The wire dtypes SGLang names in meta_info.routed_experts_dtype (SGLANG_ROUTED_EXPERTS_DTYPE), little-endian.
WIRE_DTYPES = {"int32": np.dtype("<i4"), "uint16": np.dtype("<u2"), "uint8": np.dtype("u1")}


def request_chunks(source: Source, opts, notes: list[str]) -> Iterator[Chunk]:
    """Per-request payloads: a /generate response (or a list of them), an OpenAI response, or bare base64."""
    if opts.layers is None or opts.top_k is None:
        raise RoutesError("an SGLang routed_experts payload is flat ids and does not say its shape: give the "
                          "model's layer count and k (--layers N --top-k K: num_hidden_layers, num_experts_per_tok).")
    head = source.head(64).lstrip()
    docs = json_document(source) if head[:1] in (b"{", b"[") else source.document().decode("ascii", "replace")
    for where, payload, rows, dtype in _payloads(docs):
        raw = b64(payload, where)
        row_bytes = dtype.itemsize * opts.layers * opts.top_k
        if len(raw) % row_bytes:
            raise RoutesError(f"{where}: {len(raw)} bytes is not a whole number of tokens x {opts.layers} layers "
                              f"x top-{opts.top_k} {dtype.name} ids; check --layers and --top-k.")
        array = np.frombuffer(raw, dtype=dtype).reshape(-1, opts.layers, opts.top_k)
        if rows is not None and array.shape[0] != rows:
            raise RoutesError(f"{where}: {array.shape[0]} token rows; expected {rows} (prompt + completion - 1 - "
                              "routed_experts_start_len: the last sampled token is never forwarded), or "
                              "--layers/--top-k are wrong.")
        yield from layer_chunks(array, where)
    notes.append("SGLang ids are physical expert slots: with EPLB replicas on, map them to logical experts first.")


def _payloads(doc) -> Iterator[tuple[str, str, int | None, np.dtype]]:
    """(where, base64 text, expected rows or None, dtype) for every payload in the document."""
    if isinstance(doc, str):
        yield "payload", doc, None, WIRE_DTYPES["int32"]
        return
    for n, item in enumerate(doc if isinstance(doc, list) else [doc]):
        where = f"response {n}"
        if isinstance(item, dict) and isinstance(item.get("meta_info"), dict):
            meta = item["meta_info"]
            if "routed_experts" not in meta:
                raise RoutesError(f"{where}: meta_info has no \"routed_experts\" (start SGLang with "
                                  "--enable-return-routed-experts and send return_routed_experts: true).")
            rows = None
            if "prompt_tokens" in meta and "completion_tokens" in meta:
                prompt = whole_number(meta["prompt_tokens"], f"{where}: prompt_tokens")
                forwarded = prompt + whole_number(meta["completion_tokens"], f"{where}: completion_tokens") - 1
                rows = forwarded - min(_start_len(item, where), max(forwarded, 0))  # get_topk clamps it so
            yield where, meta["routed_experts"], rows, _wire_dtype(meta, where)
        elif isinstance(item, dict) and isinstance(item.get("choices"), list):
            for i, choice in enumerate(item["choices"]):
                if not isinstance(choice, dict) or "routed_experts" not in choice:
                    raise RoutesError(f"{where}, choice {i}: no \"routed_experts\".")
                yield f"{where}, choice {i}", choice["routed_experts"], None, _wire_dtype(choice, where)
        else:
            raise RoutesError(f"{where}: expected an SGLang response with meta_info.routed_experts.")


def _wire_dtype(fields: dict, where: str) -> np.dtype:
    name = fields.get("routed_experts_dtype", "int32")
    if name not in WIRE_DTYPES:
        raise RoutesError(f"{where}: routed_experts_dtype {str(name)[:20]!r}; expected one of "
                          f"{', '.join(WIRE_DTYPES)} (SGLANG_ROUTED_EXPERTS_DTYPE).")
    return WIRE_DTYPES[name]


def _start_len(item: dict, where: str) -> int:
    """The request's routed_experts_start_len (rows begin at that position), from meta_info or the saved request."""
    request = item.get("request") if isinstance(item.get("request"), dict) else {}
    value = item["meta_info"].get("routed_experts_start_len", request.get("routed_experts_start_len", 0))
    return whole_number(value, f"{where}: routed_experts_start_len")


def recorder_chunks(source: Source, opts, notes: list[str]) -> Iterator[Chunk]:
    doc = torch_document(source)
    if not isinstance(doc, dict) or not ({"logical_count", "records"} & doc.keys()):
        raise RoutesError(f"{source.name}: expected SGLang's expert-distribution dump, a dict with "
                          "\"logical_count\" (stat mode) or \"records\" (per_pass / per_token mode).")
    if "logical_count" in doc:
        counts = _int_tensor(doc["logical_count"], "logical_count", (2, 3)).numpy()
        counts = counts.reshape(-1, *counts.shape[-2:]).sum(axis=0)  # over buffered steps: (layers, experts)
        notes.append("stat mode: counts only (no tokens); tokens = routed copies / k when k is known.")
        for layer, row in enumerate(counts):
            yield Chunk(layer, counts=row, top_k=opts.top_k)
        return
    phy2log = _int_tensor(doc.get("last_physical_to_logical_map"), "last_physical_to_logical_map", (2,)).numpy()
    if phy2log.min() < 0:
        raise RoutesError("last_physical_to_logical_map: logical expert ids must be >= 0.")
    records = doc["records"]
    if not isinstance(records, list):
        raise RoutesError("\"records\" must be a list of per-pass dicts.")
    notes.append("physical slots mapped to logical experts with last_physical_to_logical_map (the map at dump "
                 "time; passes recorded before a rebalance used another map).")
    for n, record in enumerate(records):
        yield from _record_chunks(record, phy2log, f"record {n}", opts.top_k)


def _record_chunks(record, phy2log: np.ndarray, where: str, top_k: int | None) -> Iterator[Chunk]:
    if not isinstance(record, dict):
        raise RoutesError(f"{where}: expected a dict.")
    L, P = phy2log.shape
    if "topk_ids_of_layer" in record:  # per_token: (layers, tokens, 8) physical ids, -1 unused
        ids = _int_tensor(record["topk_ids_of_layer"], f"{where}: topk_ids_of_layer", (3,)).numpy().astype(np.int64)
        if ids.shape[0] != L or ids.max(initial=-1) >= P:
            raise RoutesError(f"{where}: topk_ids_of_layer has shape {ids.shape} and ids up to {ids.max()}; "
                              f"expected {L} layers and physical ids below {P} (the map's shape).")
        for layer in range(L):
            rows = ids[layer]
            yield Chunk(layer, np.where(rows >= 0, phy2log[layer][rows.clip(0)], -1))
        return
    counts = _int_tensor(record.get("global_physical_count"), f"{where}: global_physical_count", (2,)).numpy()
    if counts.shape != (L, P) or counts.min() < 0:
        raise RoutesError(f"{where}: global_physical_count has shape {counts.shape}; expected {(L, P)} counts >= 0.")
    for layer in range(L):
        yield Chunk(layer, counts=np.bincount(phy2log[layer], weights=counts[layer]).astype(np.int64), top_k=top_k)


def _int_tensor(value, name: str, ndims: tuple[int, ...]) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.is_floating_point() or value.is_complex() \
            or value.dtype == torch.bool or value.dim() not in ndims:
        got = f"a {value.dim()}-D {value.dtype} tensor" if isinstance(value, torch.Tensor) else type(value).__name__
        raise RoutesError(f"{name}: expected a {' or '.join(map(str, ndims))}-D integer tensor, got {got}.")
    return value
