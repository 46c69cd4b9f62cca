"""vLLM's `routed_experts` (as of vLLM main, mid-2026; `enable_return_routed_experts=True`).

Offline, `CompletionOutput.routed_experts` is an int32 array `[seq_len, num_hidden_layers, top_k]`
(vllm/outputs.py, from PR #28284); saved with `np.save` it is a `.npy` file. The OpenAI-compatible server returns
the same array per choice as base64 of the `.npy` bytes (`choices[i].routed_experts`). Traps:
- seq_len is prompt + completion - 1: the last sampled token is never run through the model, so it has no row;
- the layer axis is every hidden layer: a dense layer (DeepSeek's first_k_dense_replace) is never captured and
  its rows stay at the buffer's zeros (record.Tally skips zero-filled rows and reports the layer as dense).
A .npy file is streamed a block of tokens at a time, so its size is not limited.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from moeviz.routes.record import Chunk, RoutesError
from moeviz.routes.source import NPY_MAGIC, Source, b64, json_document, npy_bytes, npy_header, whole_number

BLOCK_BYTES = 8 << 20  # rows read at a time: bounds memory whatever the file's length


def chunks(source: Source, opts, notes: list[str]) -> Iterator[Chunk]:
    head = source.head(len(NPY_MAGIC)).lstrip()
    if head == NPY_MAGIC:
        yield from _npy_file(source)
        return
    if head.startswith(b"k05VTVBZ"):  # one bare payload: base64 of the .npy bytes
        yield from layer_chunks(npy_bytes(b64(source.document().decode("ascii"), source.name), source.name),
                                source.name)
        return
    for array in _response_arrays(json_document(source), notes):
        yield from layer_chunks(array, source.name)


def layer_chunks(array: np.ndarray, where: str) -> Iterator[Chunk]:
    """An in-memory (tokens, layers, k) array as one chunk per layer."""
    if array.ndim != 3:
        raise RoutesError(f"{where}: expected routed experts of shape (tokens, layers, k), got {array.shape}.")
    for layer in range(array.shape[1]):
        yield Chunk(layer, array[:, layer, :])


def _npy_file(source: Source) -> Iterator[Chunk]:
    with source.open() as f:
        shape, dtype = npy_header(f)
        if len(shape) != 3:
            raise RoutesError(f"{source.name}: expected a (tokens, layers, k) array as vLLM's routed_experts, "
                              f"got shape {shape}.")
        T, L, K = shape
        row_bytes = L * K * dtype.itemsize
        per_block = max(1, BLOCK_BYTES // max(row_bytes, 1))
        for start in range(0, T, per_block):
            n = min(per_block, T - start)
            raw = f.read(n * row_bytes)
            if len(raw) != n * row_bytes:
                raise RoutesError(f"{source.name}: the file ends after {start + len(raw) // row_bytes} of the "
                                  f"{T} token rows its header promises.")
            block = np.frombuffer(raw, dtype=dtype).reshape(n, L, K)
            for layer in range(L):
                yield Chunk(layer, block[:, layer, :])


def _response_arrays(doc, notes: list[str]) -> Iterator[np.ndarray]:
    """Each choice's routed_experts from one OpenAI-style response (or a list of them)."""
    responses = doc if isinstance(doc, list) else [doc]
    for n, response in enumerate(responses):
        choices = response.get("choices") if isinstance(response, dict) else None
        if not isinstance(choices, list) or not choices:
            raise RoutesError(f"response {n}: expected a vLLM response with \"choices\", each carrying "
                              "\"routed_experts\" (base64 of a .npy array).")
        for i, choice in enumerate(choices):
            where = f"response {n}, choice {i}"
            if not isinstance(choice, dict) or "routed_experts" not in choice:
                raise RoutesError(f"{where}: no \"routed_experts\" (start vLLM with enable_return_routed_experts).")
            array = npy_bytes(b64(choice["routed_experts"], where), where)
            _check_rows(array, response.get("usage"), len(choices), where, notes)
            yield array


def _check_rows(array: np.ndarray, usage, num_choices: int, where: str, notes: list[str]) -> None:
    """One row per forwarded token: prompt + completion - 1 (the last sampled token is never forwarded)."""
    if not isinstance(usage, dict) or num_choices != 1 or array.ndim != 3:
        return
    forwarded = whole_number(usage.get("prompt_tokens"), f"{where}: usage.prompt_tokens") + \
        whole_number(usage.get("completion_tokens"), f"{where}: usage.completion_tokens") - 1
    if array.shape[0] != forwarded:
        raise RoutesError(f"{where}: {array.shape[0]} rows of routed experts for {forwarded + 1} tokens; expected "
                          f"{forwarded} (prompt + completion - 1: the last sampled token is never forwarded).")
    notes.append(f"{where}: {forwarded} rows for {forwarded + 1} tokens (the last sampled token has no routing).")
