"""vLLM's routed experts (`enable_return_routed_experts=True`), in the two layouts vLLM has shipped.

The dtype is whatever the array says (the .npy header, or the JSON integers): int32 in PR #28284's capturer,
int16 in v0.21's docs (docs/training/routed_experts_replay.md), narrower unsigned types in later releases; any
integer dtype is read.
- PR #28284 (vllm/outputs.py): `CompletionOutput.routed_experts` is `[seq_len, num_hidden_layers, top_k]` for
  prompt and completion together; the OpenAI-compatible server returns it per choice as base64 of the `.npy`
  bytes (`choices[i].routed_experts`). seq_len is prompt + completion - 1: the last sampled token is never run
  through the model, so it has no row. The layer axis is every hidden layer: a dense layer (DeepSeek's
  first_k_dense_replace) is never captured and its rows stay at the buffer's zeros (record.Tally skips
  zero-filled rows and reports the layer as dense).
- v0.21 (as of its docs): the prompt's routing is apart, once per request (`RequestOutput.prompt_routed_experts`,
  `[prompt_len, num_moe_layers, top_k]`; the JSON response's top-level `prompt_routed_experts`), and each
  choice's `routed_experts` holds its generated tokens only (`[gen_len, num_moe_layers, top_k]`, gen_len <=
  completion_tokens), as nested JSON lists. The layer axis counts MoE layers only. Prefix-cached positions
  are rows of -1 (never computed in this request), which record.Tally skips.
Saved with `np.save`, either array is a `.npy` file; a .npy file is streamed a block of tokens at a time, so its
size is not limited.
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
        if array.size:  # an empty array (nothing generated) has no layers to report
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
    """Each (tokens, layers, k) array of one OpenAI-style response (or a list of them): the request's
    prompt_routed_experts when present, then each choice's routed_experts."""
    responses = doc if isinstance(doc, list) else [doc]
    for n, response in enumerate(responses):
        choices = response.get("choices") if isinstance(response, dict) else None
        if not isinstance(choices, list) or not choices:
            raise RoutesError(f"response {n}: expected a vLLM response with \"choices\", each carrying "
                              "\"routed_experts\" (base64 of a .npy array, or nested lists of expert ids).")
        usage = response.get("usage")
        split = response.get("prompt_routed_experts") is not None  # v0.21: prompt rows apart, once per request
        if split:
            prompt = _array(response["prompt_routed_experts"], f"response {n}: prompt_routed_experts")
            _check_split_rows(prompt, usage, "prompt_tokens", f"response {n}: prompt_routed_experts")
            yield prompt
        for i, choice in enumerate(choices):
            where = f"response {n}, choice {i}"
            if not isinstance(choice, dict) or "routed_experts" not in choice:
                raise RoutesError(f"{where}: no \"routed_experts\" (start vLLM with enable_return_routed_experts).")
            if choice["routed_experts"] is None:  # e.g. a preempted request: vLLM drops its routing
                notes.append(f"{where}: routed_experts is null (vLLM returns none for a preempted request).")
                continue
            array = _array(choice["routed_experts"], where)
            if split:
                _check_split_rows(array, usage if len(choices) == 1 else None, "completion_tokens", where)
            else:
                _check_rows(array, usage, len(choices), where, notes)
            yield array


def _array(value, where: str) -> np.ndarray:
    """A payload as a (tokens, layers, k) integer array: base64 of .npy bytes, or nested JSON lists."""
    if isinstance(value, str):
        return npy_bytes(b64(value, where), where)
    if not isinstance(value, list):
        raise RoutesError(f"{where}: expected base64 of a .npy array or nested lists of expert ids.")
    if not value:
        return np.zeros((0, 0, 0), dtype=np.int64)  # no tokens (e.g. nothing generated)
    try:
        array = np.array(value, dtype=np.int64)
    except (ValueError, TypeError, OverflowError):
        raise RoutesError(f"{where}: expected nested lists of whole numbers, equally long at each level.") from None
    if array.ndim != 3:
        raise RoutesError(f"{where}: expected routed experts of shape (tokens, layers, k), got {array.shape}.")
    return array


def _check_split_rows(array: np.ndarray, usage, field: str, where: str) -> None:
    """v0.21 layout: one row per prompt token (prompt_tokens), at most one per generated token."""
    if not isinstance(usage, dict) or field not in usage:
        return
    tokens = whole_number(usage[field], f"{where}: usage.{field}")
    if array.shape[0] > tokens or (field == "prompt_tokens" and array.shape[0] != tokens):
        bound = "" if field == "prompt_tokens" else "at most "
        raise RoutesError(f"{where}: {array.shape[0]} rows of routed experts; expected {bound}{tokens} "
                          f"(usage.{field}).")


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
