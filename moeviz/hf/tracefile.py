"""Checkpoint traces as JSON files: captured on a big machine, shown on a small server.

    text = routing_json(routing)                    # what `python -m moeviz.hf trace` writes
    routing = read_trace(uploaded_bytes)            # validated: size, JSON, schema, shapes, ranges; TraceFileError

The file holds the routing fields of each layer's RoutingTrace (router_logits, router_probs, selection_scores,
topk_indices, topk_weights, dropped, tokens_per_expert, losses, metrics), the tokens and the model's info line;
never hidden states. Reading trusts nothing in the file: every field is type- and shape-checked against the
token count and the layer's num_experts/top_k, and the first problem found is named in the error.
"""
from __future__ import annotations

import json
import math

import torch

from moeviz.config import ROUTERS
from moeviz.hf.model import CheckpointRouting
from moeviz.text import csv_text
from moeviz.trace import LOSS_FIELDS, RoutingTrace

FORMAT, VERSION = "moeviz-checkpoint-trace", 1
MAX_TRACE_BYTES = 64 << 20  # a 4k-token text through a 64-expert, 48-layer model is ~40 MB of JSON
MAX_TOKENS, MAX_LAYERS, MAX_EXPERTS = 1 << 16, 1024, 4096
ROUTING_FIELDS = ("router_logits", "router_probs", "selection_scores", "topk_indices", "topk_weights",
                  "dropped", "tokens_per_expert")
STATE_FIELDS = ("input", "output", "expert_outputs", "shared_output")  # never written: too big, not shown


class TraceFileError(ValueError):
    """An uploaded file that is not a valid moeviz checkpoint trace; the message says what is wrong."""


def routing_json(routing: CheckpointRouting, model_info: dict | None = None) -> str:
    """The routing as one JSON document (no NaN, no hidden states)."""
    layers = []
    for layer, trace in zip(routing.layers, routing.traces):
        d = trace.to_dict()
        for name in STATE_FIELDS:
            d.pop(name, None)
        layers.append({"layer": layer, "trace": d})
    payload = {"format": FORMAT, "version": VERSION, "model": _plain(model_info or routing.model_info),
               "model_name": routing.model_name, "model_type": routing.model_type, "text": routing.text,
               "token_ids": list(routing.token_ids), "tokens": list(routing.tokens),
               "dense_layers": [list(d) for d in routing.dense_layers], "layers": layers}
    return json.dumps(payload, ensure_ascii=False, allow_nan=False)


def read_trace(data: bytes | str, max_bytes: int = MAX_TRACE_BYTES) -> CheckpointRouting:
    """A CheckpointRouting from a trace file's bytes; TraceFileError naming the first problem."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(raw) > max_bytes:
        raise TraceFileError(f"the file is {len(raw) / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.0f} MB.")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise TraceFileError(f"not a moeviz trace: the file is not valid JSON ({error}).") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise TraceFileError(f"not a moeviz trace: expected a JSON object with \"format\": \"{FORMAT}\" "
                             f"(written by `python -m moeviz.hf trace`).")
    if doc.get("version") != VERSION:
        raise TraceFileError(f"trace format version {doc.get('version')!r}; this moeviz reads version {VERSION}.")
    token_ids = _list(doc, "token_ids", int, MAX_TOKENS)
    tokens = _list(doc, "tokens", str, MAX_TOKENS)
    if not token_ids or len(tokens) != len(token_ids):
        raise TraceFileError(f"the trace has {len(token_ids)} token ids and {len(tokens)} token labels; "
                             f"it needs the same number, at least one.")
    layers = doc.get("layers")
    if not isinstance(layers, list) or not 0 < len(layers) <= MAX_LAYERS:
        raise TraceFileError(f"\"layers\" must be a list of 1 to {MAX_LAYERS} layers.")
    traces, indices = [], []
    for n, entry in enumerate(layers):
        if not isinstance(entry, dict) or not _is_int(entry.get("layer")):
            raise TraceFileError(f"layer entry {n} needs an integer \"layer\" and a \"trace\".")
        indices.append(entry["layer"])
        traces.append(_trace(entry.get("trace"), len(token_ids), f"layer {entry['layer']}"))
    dense = doc.get("dense_layers", [])
    if not isinstance(dense, list) or not all(isinstance(d, list) and len(d) == 2 and _is_int(d[0])
                                             and isinstance(d[1], str) for d in dense):
        raise TraceFileError("\"dense_layers\" must be a list of [layer index, reason] pairs.")
    return CheckpointRouting(_str(doc, "model_name"), _str(doc, "model_type"), _str(doc, "text"),
                             tuple(token_ids), tuple(tokens), tuple(traces), tuple(indices),
                             tuple((d[0], d[1]) for d in dense),
                             model_info=doc["model"] if isinstance(doc.get("model"), dict) else {})


def _trace(d, T: int, where: str) -> RoutingTrace:
    if not isinstance(d, dict):
        raise TraceFileError(f"{where}: \"trace\" must be an object.")
    E, k = d.get("num_experts"), d.get("top_k")
    if not (_is_int(E) and 1 <= E <= MAX_EXPERTS and _is_int(k) and 1 <= k <= E):
        raise TraceFileError(f"{where}: num_experts must be 1..{MAX_EXPERTS} and top_k 1..num_experts.")
    if d.get("router") not in ROUTERS:
        raise TraceFileError(f"{where}: router {str(d.get('router'))[:40]!r} is not one of {', '.join(ROUTERS)}.")
    shapes = {"router_logits": (T, E), "router_probs": (T, E), "selection_scores": (T, E),
              "topk_indices": (T, k), "topk_weights": (T, k), "dropped": (T, k), "tokens_per_expert": (E,)}
    dtypes = {"topk_indices": torch.int64, "tokens_per_expert": torch.int64, "dropped": torch.bool}
    t = {name: _tensor(d.get(name), shapes[name], dtypes.get(name, torch.float32), f"{where}: {name}")
         for name in ROUTING_FIELDS}
    if ((t["topk_indices"] < 0) | (t["topk_indices"] >= E)).any():
        raise TraceFileError(f"{where}: topk_indices must lie in 0..{E - 1}.")
    losses = {}
    for name in LOSS_FIELDS:
        value = d.get(name)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise TraceFileError(f"{where}: {name} must be a finite number.")
        losses[name] = torch.tensor(float(value))
    metrics = d.get("metrics", {})
    if not isinstance(metrics, dict) or not all(
            isinstance(v, (int, float, str, bool)) or v is None for v in metrics.values()):
        raise TraceFileError(f"{where}: metrics must be an object of plain numbers and text.")
    return RoutingTrace(router=d["router"], top_k=k, num_experts=E, capacity=None, input=None,
                        expert_outputs=None, shared_output=None, output=None, metrics=metrics, **t, **losses,
                        # a checkpoint's routing has no capacity limit: before it = after it
                        routed_weights=t["topk_weights"], demand=t["tokens_per_expert"])


def _tensor(value, shape: tuple, dtype: torch.dtype, where: str) -> torch.Tensor:
    try:
        t = torch.tensor(value)  # inferred first: a float in an index array must fail, not be truncated
    except (TypeError, ValueError, RuntimeError, OverflowError):
        raise TraceFileError(f"{where} must be a {'x'.join(map(str, shape))} array of numbers.") from None
    if tuple(t.shape) != shape:
        raise TraceFileError(f"{where} has shape {tuple(t.shape)}, expected {shape} (tokens x experts/slots).")
    if dtype == torch.bool and t.dtype != torch.bool:
        raise TraceFileError(f"{where} must hold true/false values.")
    if dtype == torch.int64 and t.dtype != torch.int64:
        raise TraceFileError(f"{where} must hold whole numbers.")
    if dtype.is_floating_point:
        if t.dtype == torch.bool:
            raise TraceFileError(f"{where} must hold numbers.")
        t = t.to(dtype)
        if not torch.isfinite(t).all():
            raise TraceFileError(f"{where} holds a non-finite number.")
    return t


def _list(doc: dict, key: str, kind: type, limit: int) -> list:
    value = doc.get(key)
    if not isinstance(value, list) or len(value) > limit or not all(
            isinstance(v, kind) and not isinstance(v, bool) for v in value):
        raise TraceFileError(f"\"{key}\" must be a list of at most {limit} {kind.__name__} values.")
    return value


def _str(doc: dict, key: str) -> str:
    value = doc.get(key, "")
    if not isinstance(value, str):
        raise TraceFileError(f"\"{key}\" must be text.")
    return value


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _plain(value):
    """JSON-safe copy of an info dict (tuples to lists; non-finite floats to None)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def routing_rows(routing: CheckpointRouting) -> list[dict]:
    """One row per (MoE layer, token): chosen experts and their combine weights, for a CSV download."""
    rows = []
    for layer, trace in zip(routing.layers, routing.traces):
        for t, (token_id, label) in enumerate(zip(routing.token_ids, routing.tokens)):
            # token_label: the page's display label (␣ = a space, ⏎ = a line break), not the raw text
            rows.append({"layer": layer, "position": t, "token_label": label, "token_id": token_id,
                         "experts": " ".join(str(e) for e in trace.topk_indices[t].tolist()),
                         "weights": " ".join(f"{w:.4f}" for w in trace.topk_weights[t].tolist())})
    return rows


def routing_csv(routing: CheckpointRouting) -> str:
    """routing_rows as CSV. Cells starting with = + - @ get a leading ' so a spreadsheet shows, not runs, them."""
    return csv_text(routing_rows(routing))
