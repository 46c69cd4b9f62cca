"""Checkpoints as safetensors files: raw tensors plus a JSON header holding the config. Never pickle.

Metadata (safetensors allows str -> str): "moeviz_lm" holds JSON with the format version, the LMConfig, the
tokenizer's SHA-256 and a SHA-256 over the tensors. Loading checks every part and refuses, with a sentence
saying what is wrong, a file that is truncated, not safetensors, from another format, edited, or made for
another tokenizer or config. Weights are stored as float16 (half the size) and run as float32.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from moeviz.lm.model import LMConfig, TinyMoELM

FORMAT = "moeviz-lm"
FORMAT_VERSION = 1
META_KEY = "moeviz_lm"
STORE_DTYPE = torch.float16


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; the message says why."""


def weights_digest(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 over the tensors' names, shapes and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def file_digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def save_checkpoint(model: TinyMoELM, path: str | Path, tokenizer_sha256: str, extra: dict | None = None) -> None:
    """Write `model`'s weights (float16) and config; `extra` is any JSON-able training record."""
    tensors = {name: t.detach().to("cpu", STORE_DTYPE if t.is_floating_point() else t.dtype).contiguous()
               for name, t in model.state_dict().items()}
    header = {"format": FORMAT, "version": FORMAT_VERSION, "config": model.cfg.to_dict(),
              "tokenizer_sha256": tokenizer_sha256, "weights_sha256": weights_digest(tensors),
              "extra": extra or {}}
    save_file(tensors, str(path), metadata={META_KEY: json.dumps(header, sort_keys=True)})


def read_header(path: str | Path) -> dict:
    """The checkpoint's JSON header, checked for format and version."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}.")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path.name} is not a readable safetensors file (corrupt or truncated?): "
                              f"{error}") from None
    try:
        header = json.loads(metadata[META_KEY])
    except (KeyError, json.JSONDecodeError):
        raise CheckpointError(f"{path.name} has no moeviz language-model header: not a moeviz checkpoint.") from None
    if header.get("format") != FORMAT or header.get("version") != FORMAT_VERSION:
        raise CheckpointError(f"{path.name} is format {header.get('format')!r} version {header.get('version')!r}; "
                              f"this code reads {FORMAT!r} version {FORMAT_VERSION}.")
    return header


def load_checkpoint(path: str | Path, tokenizer_sha256: str | None = None, top_k: int | None = None,
                    capacity_factor: float | None = None) -> tuple[TinyMoELM, dict]:
    """(eval-mode model in float32, header). `top_k`/`capacity_factor` change the routing at inference.

    Refuses the file when the tokenizer hash differs from `tokenizer_sha256` (if given), when tensor names or
    shapes do not match the config, or when the tensors' hash does not match the header (edited bytes)."""
    path = Path(path)
    header = read_header(path)
    try:
        cfg = LMConfig.from_dict(header["config"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path.name} has an invalid config: {error}") from None
    if tokenizer_sha256 is not None and header.get("tokenizer_sha256") != tokenizer_sha256:
        raise CheckpointError(f"{path.name} was trained with a different tokenizer than the one given: "
                              f"retrain it, or load the tokenizer it shipped with.")
    with safe_open(str(path), framework="pt") as f:
        tensors = {name: f.get_tensor(name) for name in f.keys()}
    if weights_digest(tensors) != header.get("weights_sha256"):
        raise CheckpointError(f"{path.name}: the weights do not match the checksum in its header (corrupt file).")
    model = TinyMoELM(cfg, top_k=top_k, capacity_factor=capacity_factor)
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    found = {name: tuple(t.shape) for name, t in tensors.items()}
    if expected != found:
        missing, unexpected = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
        wrong = sorted(n for n in set(expected) & set(found) if expected[n] != found[n])
        raise CheckpointError(f"{path.name} does not match its config: missing {missing[:3]}, "
                              f"unexpected {unexpected[:3]}, wrong shape {wrong[:3]}.")
    model.load_state_dict({n: t.float() if t.is_floating_point() else t for n, t in tensors.items()})
    return model.eval(), header
