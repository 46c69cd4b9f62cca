"""The table of formats (one entry each: its reader and what it is) and the detection that picks one."""
from __future__ import annotations

import re
from typing import Callable, NamedTuple

from moeviz.routes import megatron, own, sglang, vllm
from moeviz.routes.record import RoutesError
from moeviz.routes.source import NPY_MAGIC, ZIP_MAGIC, Source

VLLM_NPY_B64 = "k05VTVBZ"  # base64 of the .npy magic: vLLM's payloads start with it, SGLang's raw int32 do not
BASE64_TEXT = re.compile(rb"^[A-Za-z0-9+/=\s]+$")
PAYLOAD = re.compile(rb'"routed_experts"\s*:\s*"([A-Za-z0-9+/=]{0,8})')
NESTED = re.compile(rb'"(prompt_)?routed_experts"\s*:\s*\[')  # JSON lists: vLLM v0.21 (SGLang sends base64)


class Format(NamedTuple):
    chunks: Callable  # (Source, ReadOptions, notes) -> Iterator[Chunk]
    what: str  # the file's layout, for practitioners (file names, fields, flags)
    label: str  # the format's name in plain words, short enough for a metric on the screen


FORMATS = {
    "vllm": Format(vllm.chunks, "vLLM routed_experts: a .npy [tokens, layers, k] or an OpenAI response (base64 "
                                ".npy, or JSON lists with prompt_routed_experts)", "vLLM"),
    "sglang": Format(sglang.request_chunks, "SGLang per-request routed_experts: flat base64 ids, int32 unless "
                                            "meta_info.routed_experts_dtype says (needs --layers, --top-k)",
                     "SGLang"),
    "sglang-recorder": Format(sglang.recorder_chunks, "SGLang expert-distribution recorder .pt (stat, stat_approx, "
                                                      "per_pass, per_token)", "SGLang recorder"),
    "megatron": Format(megatron.chunks, "Megatron-Core router trace JSONL (router_trace_rank{N}.jsonl)",
                         "Megatron-Core"),
    "moeviz": Format(own.trace_chunks, "moeviz checkpoint trace JSON (python -m moeviz.hf trace)", "moeviz trace"),
    "summary": Format(own.summary_chunks, "moeviz routing summary JSON (python -m moeviz.routes summary --json)",
                      "moeviz summary"),
}


def detect_format(source: Source) -> str:
    """The format a dump is in, from its first bytes; RoutesError naming the candidates when none fits."""
    head = source.head(1 << 16)
    if head.startswith(NPY_MAGIC):
        return "vllm"
    if head.startswith(ZIP_MAGIC):
        return "sglang-recorder"
    text = head.lstrip()
    if text[:1] in (b"{", b"["):
        for marker, name in ((b'"top_indices"', "megatron"), (b'"moeviz-checkpoint-trace"', "moeviz"),
                             (b'"tokens_per_expert"', "summary"), (b'"meta_info"', "sglang")):
            if marker in text:
                return name
        if NESTED.search(text):
            return "vllm"
        payload = PAYLOAD.search(text)
        if payload:
            return "vllm" if payload.group(1).startswith(VLLM_NPY_B64.encode()) else "sglang"
    elif text and BASE64_TEXT.match(text):
        return "vllm" if text.startswith(VLLM_NPY_B64.encode()) else "sglang"
    raise RoutesError(f"could not tell what {source.name} is; expected one of: "
                      + "; ".join(f"{name} ({f.what})" for name, f in FORMATS.items()) + ". Give the format.")
