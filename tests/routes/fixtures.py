"""Routing dumps in each system's documented layout, built from one seeded routing, and the plain numpy count
they must read back to. Layouts as of mid-2026 (see moeviz/routes/*.py docstrings for the source lines)."""
from __future__ import annotations

import base64
import io
import json

import numpy as np
import torch

T, L, K, E = 57, 4, 2, 8  # the tests' dump: tokens, layers, top-k, experts (the `ids` fixture, conftest.py)


def counts_of(summary) -> dict[int, list[int]]:
    """A summary's counts in numpy_counts' shape: {layer: tokens per expert}."""
    return {s.layer: s.tokens_per_expert for s in summary.layers}


def routing(tokens: int, layers: int, top_k: int, experts: int, seed: int = 0) -> np.ndarray:
    """(tokens, layers, top_k) int32: each row k distinct experts, skewed toward low ids like a real router."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, experts + 1)
    p /= p.sum()
    ids = [rng.choice(experts, size=top_k, replace=False, p=p) for _ in range(tokens * layers)]
    return np.array(ids, dtype=np.int32).reshape(tokens, layers, top_k)


def numpy_counts(ids: np.ndarray, experts: int) -> dict[int, list[int]]:
    """The reference: per layer, np.bincount of every id >= 0 in that layer's rows."""
    out = {}
    for layer in range(ids.shape[1]):
        flat = ids[:, layer, :].ravel()
        flat = flat[flat >= 0]
        if flat.size:
            out[layer] = np.bincount(flat, minlength=experts).tolist()
    return out


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def vllm_response(ids: np.ndarray, prompt_tokens: int) -> bytes:
    """An OpenAI-compatible vLLM completion: routed_experts as base64 of the .npy bytes."""
    completion = ids.shape[0] + 1 - prompt_tokens  # rows = prompt + completion - 1
    doc = {"id": "cmpl-1", "object": "text_completion",
           "choices": [{"index": 0, "text": "...", "token_ids": list(range(completion)),
                        "routed_experts": base64.b64encode(npy_bytes(ids)).decode()}],
           "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
                     "total_tokens": prompt_tokens + completion}}
    return json.dumps(doc).encode()


def vllm_split_response(prompt_ids: np.ndarray, gen_ids: list[np.ndarray]) -> bytes:
    """vLLM v0.21's OpenAI response: prompt_routed_experts once per request, each choice's routed_experts its
    generated tokens only, both as nested JSON lists (docs/training/routed_experts_replay.md)."""
    completion = max(len(g) for g in gen_ids)
    doc = {"id": "cmpl-2", "object": "text_completion",
           "choices": [{"index": i, "text": "...", "routed_experts": g.tolist()} for i, g in enumerate(gen_ids)],
           "prompt_routed_experts": prompt_ids.tolist(),
           "usage": {"prompt_tokens": len(prompt_ids), "completion_tokens": completion}}
    return json.dumps(doc).encode()


def sglang_response(ids: np.ndarray, prompt_tokens: int, dtype: str | None = None, start_len: int = 0,
                    start_in: str = "meta_info") -> bytes:
    """An SGLang /generate response: meta_info.routed_experts is base64 of flat ids (int32, or the
    routed_experts_dtype named), rows from start_len on; start_len said in meta_info or in the saved request."""
    completion = ids.shape[0] + 1 - prompt_tokens
    meta = {"id": "r1", "prompt_tokens": prompt_tokens, "completion_tokens": completion,
            "routed_experts": base64.b64encode(ids[start_len:].astype(np.dtype(dtype or "int32").newbyteorder("<"))
                                               .tobytes()).decode()}
    doc = {"text": "...", "meta_info": meta}
    if dtype is not None:
        meta["routed_experts_dtype"] = dtype
    if start_len and start_in == "meta_info":
        meta["routed_experts_start_len"] = start_len
    elif start_len and start_in == "request":
        doc["request"] = {"return_routed_experts": True, "routed_experts_start_len": start_len}
    return json.dumps(doc).encode()


def torch_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def sglang_stat(logical_count: np.ndarray, utilization: float | None = None) -> bytes:
    """stat / stat_approx mode (both _StatAccumulator): {"rank", "logical_count": (steps, layers, experts),
    "average_utilization_rate_over_window"} (a float with expert-distribution metrics on, else None)."""
    return torch_bytes({"rank": 0, "logical_count": torch.from_numpy(logical_count.astype(np.int32)),
                        "average_utilization_rate_over_window": utilization})


def physical_layout(ids: np.ndarray, experts: int, redundant: int, seed: int = 1):
    """Replicate the first `redundant` experts: (physical ids of each copy, phy2log (layers, P)). Each token's
    copy for a replicated expert goes to one of its slots at random, as a dispatcher would."""
    T, L, K = ids.shape
    phy2log = np.concatenate([np.arange(experts), np.arange(redundant)])
    rng = np.random.default_rng(seed)
    second = np.arange(experts, experts + redundant)
    physical = ids.astype(np.int64).copy()
    use_copy = (physical < redundant) & (rng.random(physical.shape) < 0.5)
    physical[use_copy] = second[physical[use_copy]]
    return physical, np.tile(phy2log, (L, 1))


def sglang_per_token(physical: np.ndarray, phy2log: np.ndarray, passes: int, width: int = 8, rank: int = 0) -> bytes:
    """per_token mode: records with topk_ids_of_layer (layers, tokens, 8), -1 beyond k (and for dense layers);
    one such file per rank, each with that rank's passes."""
    records = []
    for n, part in enumerate(np.array_split(physical, passes)):
        T, L, K = part.shape
        buffer = np.full((L, T, width), -1, dtype=np.int32)
        buffer[:, :, :K] = part.transpose(1, 0, 2)
        records.append({"forward_pass_id": n, "rank": rank, "gatherer_key": "primary",
                        "input_ids": list(range(T)), "positions": list(range(T)), "extend_seq_lens": [T],
                        "forward_mode": 1, "topk_ids_of_layer": torch.from_numpy(buffer), "misc_objects": [],
                        "global_physical_count": torch.zeros(L, phy2log.shape[1], dtype=torch.int32)})
    return torch_bytes({"records": records, "last_physical_to_logical_map": torch.from_numpy(phy2log)})


def sglang_per_pass(physical: np.ndarray, phy2log: np.ndarray, passes: int) -> bytes:
    """per_pass mode: records with global_physical_count (layers, physical experts) only."""
    records = []
    for n, part in enumerate(np.array_split(physical, passes)):
        counts = np.stack([np.bincount(part[:, l].ravel(), minlength=phy2log.shape[1])
                           for l in range(part.shape[1])])
        records.append({"forward_pass_id": n, "rank": 0, "gatherer_key": "primary",
                        "global_physical_count": torch.from_numpy(counts.astype(np.int32))})
    return torch_bytes({"records": records, "last_physical_to_logical_map": torch.from_numpy(phy2log)})


def megatron_jsonl(ids: np.ndarray, steps: int, logits: np.ndarray | None = None) -> tuple[bytes, bytes]:
    """router_trace_rank0.jsonl (one record per step and layer) and, with logits (T, L, E), logits_rank0.bin."""
    lines, sidecar = [], b""
    for step, part in enumerate(np.array_split(np.arange(ids.shape[0]), steps)):
        for layer in range(ids.shape[1]):
            rows = ids[part, layer, :]
            record = {"step": step, "stage": "pre_dispatch", "block": "decoder", "layer": layer, "rank": 0,
                      "num_tokens": len(part), "topk": ids.shape[2], "top_indices": rows.tolist()}
            if logits is not None:
                raw = bf16_bytes(logits[part, layer, :])
                record |= {"logit_offset": len(sidecar), "logit_bytes": len(raw),
                           "logit_shape": [len(part), logits.shape[2]]}
                sidecar += raw
            lines.append(json.dumps(record))
    mtp = {"step": 0, "stage": "pre_dispatch", "block": "mtp", "mtp_idx": 0, "layer": 0, "rank": 0,
           "num_tokens": 1, "topk": ids.shape[2], "top_indices": [list(range(ids.shape[2]))]}
    lines.append(json.dumps(mtp))
    return ("\n".join(lines) + "\n").encode(), sidecar


def bf16_bytes(x: np.ndarray) -> bytes:
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(torch.bfloat16).view(torch.int16).numpy().tobytes()


def moeviz_trace(tokens: int, experts: int, top_k: int, layers=(1, 3)) -> tuple[bytes, tuple]:
    """A moeviz checkpoint trace (JSON bytes, router logits included) of a small seeded MoELayer on random
    inputs, one trace per entry of `layers` (their decoder-layer numbers); also returns the RoutingTraces."""
    from moeviz import MoEConfig, MoELayer
    from moeviz.hf.model import CheckpointRouting
    from moeviz.hf.tracefile import routing_json
    layer = MoELayer(MoEConfig(d_model=16, d_hidden=32, num_experts=experts, top_k=top_k, seed=0,
                               device="cpu")).eval()
    traces = tuple(layer(torch.randn(tokens, 16, generator=torch.Generator().manual_seed(s)))[1]
                   for s in range(len(layers)))
    routing = CheckpointRouting("tiny", "moeviz", "x", tuple(range(tokens)), tuple("t" * tokens), traces,
                                tuple(layers), ())
    return routing_json(routing).encode(), traces
