"""What a checkpoint folder holds, checked before any weight is read.

    folder = inspect_folder(path)   # config, safetensors headers (bytes, dtype), tokenizer files; or CheckpointError

Only the JSON headers of the safetensors files are read here (8 bytes of length, then the header), so a 90-GB
model is sized in milliseconds. Every refusal is a CheckpointError whose message says what is wrong and what
would work. Pickle weights (*.bin, *.pt, *.pth, *.ckpt) are never opened: unpickling runs arbitrary code.
"""
from __future__ import annotations

import json
import struct
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from moeviz.hf.families import DENSE_MODEL_TYPES, FAMILIES, supported_text

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")  # any one of them
MAX_CONFIG_BYTES = 1 << 20  # a config.json is a few KB; refuse to parse something huge
MAX_HEADER_BYTES = 100 << 20  # safetensors' own limit on the header
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
               "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "U32": 4, "U64": 8}
TORCH_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16"}


class CheckpointError(ValueError):
    """A checkpoint that moeviz will not load; the message says why and what is supported."""


@dataclass(frozen=True)
class Folder:
    path: Path
    config: dict  # config.json as parsed JSON
    model_type: str
    weight_files: tuple[Path, ...]  # the *.safetensors files
    weight_bytes: int  # bytes of all tensors, from the headers
    dtype: str  # the floating dtype holding most bytes, as a torch dtype name ("bfloat16")
    num_tensors: int


def inspect_folder(path: str | Path) -> Folder:
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"{path} is not a folder: a checkpoint is a folder with config.json, "
                              f"*.safetensors weights and tokenizer files.")
    config = read_config(path)
    model_type = check_model_type(config, path.name)
    files = weight_files(path)
    headers = [read_safetensors_header(f) for f in files]
    bytes_by_dtype = Counter()
    for header in headers:
        for name, entry in header.items():
            if name != "__metadata__":
                bytes_by_dtype[entry["dtype"]] += tensor_bytes(entry)
    floating = {d: b for d, b in bytes_by_dtype.items() if d in TORCH_DTYPES}
    if not floating:
        raise CheckpointError(f"{path.name}: the safetensors files hold no float16/bfloat16/float32 weights "
                              f"(found {sorted(bytes_by_dtype)}); quantized checkpoints are not supported.")
    check_tokenizer(path)
    return Folder(path, config, model_type, tuple(files), sum(bytes_by_dtype.values()),
                  TORCH_DTYPES[max(floating, key=floating.get)],
                  sum(len(h) - ("__metadata__" in h) for h in headers))


def read_config(path: Path) -> dict:
    config_file = path / "config.json"
    if not config_file.is_file():
        raise CheckpointError(f"{path.name} has no config.json: not a Hugging Face checkpoint folder.")
    if config_file.stat().st_size > MAX_CONFIG_BYTES:
        raise CheckpointError(f"{path.name}/config.json is over {MAX_CONFIG_BYTES >> 20} MB: not a model config.")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path.name}/config.json is not valid JSON: {error}") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{path.name}/config.json is not a JSON object.")
    return config


def check_model_type(config: dict, name: str) -> str:
    """The config's model_type if moeviz supports it; else a message naming what is supported."""
    model_type = config.get("model_type")
    if model_type in FAMILIES:
        if config.get("quantization_config"):
            raise CheckpointError(f"{name} is a quantized {model_type} checkpoint "
                                  f"({config['quantization_config'].get('quant_method', 'unknown method')}); "
                                  f"moeviz loads float16, bfloat16 or float32 safetensors only.")
        return model_type
    if model_type in DENSE_MODEL_TYPES:
        raise CheckpointError(f"{name} is a {model_type} model: a dense architecture with no experts to route. "
                              f"moeviz shows MoE routing; supported model types: {supported_text()}.")
    if config.get("auto_map"):
        raise CheckpointError(f"{name} (model_type {model_type!r}) needs its own Python code from the folder "
                              f"(trust_remote_code), which moeviz never runs. Supported model types, served "
                              f"by transformers' own classes: {supported_text()}.")
    raise CheckpointError(f"{name} has model_type {model_type!r}, which moeviz does not support. "
                          f"Supported model types: {supported_text()}.")


def weight_files(path: Path) -> list[Path]:
    files = sorted(path.glob("*.safetensors"))
    if files:
        return files
    pickles = sorted(p.name for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise CheckpointError(f"{path.name} has only pickle weights ({', '.join(pickles[:3])}): moeviz never "
                              f"unpickles (it can run arbitrary code). Convert them to *.safetensors first.")
    raise CheckpointError(f"{path.name} has no weights: expected one or more *.safetensors files.")


def read_safetensors_header(file: Path) -> dict:
    """The header JSON of one safetensors file, checked against the file's size (no tensor data is read)."""
    size = file.stat().st_size
    try:
        with open(file, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            if not 2 <= length <= min(MAX_HEADER_BYTES, size - 8):
                raise ValueError(f"header length {length} does not fit a {size}-byte file")
            header = json.loads(f.read(length).decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
        end = max((_check_entry(name, entry) for name, entry in header.items() if name != "__metadata__"),
                  default=0)
        if 8 + length + end > size:
            raise ValueError(f"the tensors need {8 + length + end} bytes, the file has {size} (truncated?)")
    except (struct.error, ValueError, UnicodeDecodeError, TypeError, KeyError) as error:
        raise CheckpointError(f"{file.parent.name}/{file.name} is not a readable safetensors file: "
                              f"{error}.") from None
    return header


def _check_entry(name: str, entry) -> int:
    """The end offset of one tensor's bytes, after checking its dtype, shape and offsets agree."""
    dtype, shape, (start, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in DTYPE_BYTES or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise ValueError(f"tensor {name!r} has dtype {dtype!r} / shape {shape!r}")
    if not 0 <= start <= end or end - start != tensor_bytes(entry):
        raise ValueError(f"tensor {name!r}'s byte range {start}..{end} does not match its shape {shape}")
    return end


def tensor_bytes(entry: dict) -> int:
    count = 1
    for n in entry["shape"]:
        count *= n
    return count * DTYPE_BYTES[entry["dtype"]]


def check_tokenizer(path: Path) -> None:
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise CheckpointError(f"{path.name} has no tokenizer: expected {' or '.join(TOKENIZER_FILES)} next to "
                              f"config.json (save it with tokenizer.save_pretrained).")
