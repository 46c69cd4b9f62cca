"""Load a real MoE checkpoint from a local folder and route text through it.

    model = load_checkpoint("/models/OLMoE-1B-7B")   # refuses, with a reason, what it cannot load safely
    routing = model.route("def f(x): return x")      # CheckpointRouting: token_ids, tokens, traces (one per MoE layer)

Loading uses transformers' own model classes with local_files_only=True, trust_remote_code=False and
use_safetensors=True (so no code from the folder runs and no pickle is opened), in the checkpoint's dtype, on
CUDA when present. The memory check runs on the safetensors headers before any weight is read.
"""
from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch

from moeviz.device import resolve_device
from moeviz.hf import shipped
from moeviz.hf.capture import Capture, MoEBlock, find_blocks
from moeviz.hf.families import FAMILIES, Family, layer_plan, supported_text
from moeviz.hf.files import CheckpointError, Folder, inspect_folder
from moeviz.hf.memory import fit_problem
from moeviz.hf.traces import build_trace
from moeviz.lm.analysis import token_labels, visible
from moeviz.trace import RoutingTrace


@dataclass(frozen=True)
class CheckpointRouting:
    """One text's routing through every MoE layer of a checkpoint."""
    model_name: str
    model_type: str
    text: str
    token_ids: tuple[int, ...]  # the ids fed to the model (special tokens included)
    tokens: tuple[str, ...]  # readable labels, whitespace made visible
    traces: tuple[RoutingTrace, ...]  # one per MoE layer, in layer order
    layers: tuple[int, ...]  # the decoder layer index of each trace
    dense_layers: tuple[tuple[int, str], ...]  # (layer index, why it has no experts)
    model_info: dict = field(default_factory=dict)  # CheckpointModel.info() of the model that routed it


@dataclass
class CheckpointModel:
    name: str  # the folder's name
    path: Path
    family: Family
    config: object  # the transformers config
    model: torch.nn.Module  # the *ForCausalLM module, eval mode
    tokenizer: object
    device: torch.device
    dtype: torch.dtype
    blocks: list[MoEBlock]
    dense_layers: list[tuple[int, str]]
    weight_bytes: int
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _info: dict | None = field(default=None, repr=False)

    @property
    def context(self) -> int:
        return int(getattr(self.config, "max_position_embeddings", 0) or 2048)

    def info(self) -> dict:
        """Family, layers, experts, k and parameter counts (active = what one token touches), for a page line."""
        if self._info is None:
            self._info = self._count()
        return dict(self._info)

    def _count(self) -> dict:
        total = sum(p.numel() for p in self.model.parameters())
        b = self.blocks[0]
        E, k = b.router.num_experts, b.router.top_k
        routed = sum(p.numel() for blk in self.blocks for p in blk.experts.parameters())
        return {"name": self.name, "model_type": self.family.model_type, "family": self.family.label,
                "rule": self.family.rule_text, "num_layers": self.config.num_hidden_layers,
                "moe_layers": [blk.layer for blk in self.blocks], "dense_layers": self.dense_layers,
                "num_experts": E, "top_k": k, "shared_experts": bool(b.shared is not None),
                "params_total": total, "params_active": total - routed + routed * k // E,
                "dtype": str(self.dtype).removeprefix("torch."), "device": str(self.device),
                "weight_bytes": self.weight_bytes, "context": self.context, **self._provenance()}

    def _provenance(self) -> dict:
        """For a model moeviz trained (a training.json beside it): what it read, for describe()."""
        trained_on = shipped.trained_on(shipped.training_record(self.path))
        if not trained_on:
            return {}
        short = self.family.label.split(" (")[0]
        return {"trained_on": trained_on,
                "what": f"a tiny model with {short}'s architecture ({short}: an open MoE language model; built with "
                        f"{type(self.model).__name__} from transformers, Hugging Face's model library: a causal "
                        "language model, one that predicts each next token from the ones before it)"}

    def describe(self) -> str:
        """The model's one name line (moeviz.hf.shipped.describe)."""
        return shipped.describe(self.info())

    def route(self, text: str, states: bool = False, max_tokens: int | None = None) -> CheckpointRouting:
        """Tokenise `text`, run the model, build one RoutingTrace per MoE layer from its router logits.

        states=True also keeps each block's input, output and per-expert outputs (see moeviz.hf.traces).
        A text longer than the model's context is routed in consecutive windows of `context` tokens (each window
        reads only itself: attention starts afresh at a window's first token, as if it were a text of its own);
        `windows(len(token_ids))` says where they start. More than `max_tokens` tokens is refused, not cut."""
        if not isinstance(text, str) or not text.strip():
            raise CheckpointError("the text is empty: type something to route.")
        # One call at a time: the hooks record into one dict per call, and a fast tokenizer refuses concurrent use.
        with self._lock:
            encoded = self.tokenizer(text)
            ids = list(encoded["input_ids"])
            if max_tokens is not None and len(ids) > max_tokens:
                raise CheckpointError(f"the text is {len(ids)} tokens; at most {max_tokens} are routed at once "
                                      f"here. Shorten it.")
            with Capture(self.blocks, states) as records, torch.inference_mode():
                for start in self.windows(len(ids)):
                    window = torch.tensor([ids[start:start + self.context]], device=self.device)
                    decoder(self.model)(input_ids=window, use_cache=False)
                traces = tuple(build_trace(self.family, b, records[b.layer], states) for b in self.blocks)
        return CheckpointRouting(self.name, self.family.model_type, text, tuple(ids),
                                 tuple(self._labels(text, encoded, ids)), traces,
                                 tuple(b.layer for b in self.blocks), tuple(self.dense_layers), self.info())

    def token_texts(self, token_ids) -> list[str]:
        """Each token's own text, decoded alone: a leading space is a real space (its label shows ␣). A piece
        holding only part of a character's bytes decodes to U+FFFD; its label names the character."""
        return [self.tokenizer.decode([int(i)], skip_special_tokens=False) for i in token_ids]

    def windows(self, num_tokens: int) -> range:
        """Where each window of at most `context` tokens starts, for a text of `num_tokens` tokens."""
        return range(0, num_tokens, self.context)

    def _labels(self, text: str, encoded, ids: list[int]) -> list[str]:
        encodings = getattr(encoded, "encodings", None)
        if encodings:  # a fast tokenizer: offsets let a piece of a character show which character it is
            return token_labels(self.tokenizer, text, encodings[0])
        return [visible(self.tokenizer.decode([i])) or "∅" for i in ids]


def decoder(model: torch.nn.Module) -> torch.nn.Module:
    """The decoder stack without the LM head: routing needs no (T, vocab) logits."""
    return getattr(model, model.base_model_prefix)


def load_checkpoint(path: str | Path, device: str = "auto") -> CheckpointModel:
    """Check the folder, its memory need and its layers, then load it; CheckpointError says what is wrong."""
    folder = inspect_folder(path)
    family = FAMILIES[folder.model_type]
    config = _load_config(folder)
    moe = [i for i, is_moe, _ in layer_plan(config) if is_moe]
    if not moe:
        raise CheckpointError(f"{folder.path.name} is a {folder.model_type} config with no MoE layer "
                              f"(every layer is dense): nothing to route. Supported: {supported_text()}.")
    target = resolve_device(device)
    if target.type == "mps":  # not tested here; CUDA or CPU only
        target = torch.device("cpu")
    for where in {torch.device("cpu"), target}:  # weights pass through RAM on their way to a GPU
        problem = fit_problem(folder.path.name, folder.weight_bytes, where)
        if problem:
            raise CheckpointError(problem)
    tokenizer = _load_tokenizer(folder)
    model = _load_model(folder, config).to(target)
    blocks, dense = find_blocks(decoder(model).layers, family)
    if [b.layer for b in blocks] != moe:
        raise CheckpointError(f"{folder.path.name}: the config says layers {moe} are MoE, the built model has "
                              f"MoE blocks at {[b.layer for b in blocks]}; transformers may have changed.")
    reasons = {i: why for i, _, why in layer_plan(config)}
    return CheckpointModel(folder.path.name, folder.path, family, config, model, tokenizer, target,
                           getattr(torch, folder.dtype), blocks, [(i, f"{reasons[i]} ({cls})") for i, cls in dense],
                           folder.weight_bytes)


def _load_config(folder: Folder):
    from transformers import AutoConfig
    try:
        with quiet():
            return AutoConfig.from_pretrained(folder.path, local_files_only=True, trust_remote_code=False)
    except (ValueError, OSError, TypeError, KeyError) as error:
        raise CheckpointError(f"{folder.path.name}/config.json is not a valid {folder.model_type} config: "
                              f"{error}") from None


def _load_tokenizer(folder: Folder):
    from transformers import AutoTokenizer
    try:
        with quiet():
            return AutoTokenizer.from_pretrained(folder.path, local_files_only=True, trust_remote_code=False)
    except Exception as error:  # noqa: BLE001 - tokenizers raises a bare Exception on a bad file
        raise CheckpointError(f"{folder.path.name}: the tokenizer files could not be read: "
                              f"{str(error).splitlines()[0]}") from None


def _load_model(folder: Folder, config) -> torch.nn.Module:
    from transformers import AutoModelForCausalLM
    try:
        with quiet():
            model, info = AutoModelForCausalLM.from_pretrained(
                folder.path, config=config, local_files_only=True, trust_remote_code=False, use_safetensors=True,
                dtype=getattr(torch, folder.dtype), output_loading_info=True, ignore_mismatched_sizes=True)
    except (OSError, ValueError, RuntimeError, KeyError) as error:
        raise CheckpointError(f"{folder.path.name}: transformers could not load the weights: "
                              f"{str(error).splitlines()[0]}") from None
    mismatched = sorted(info.get("mismatched_keys") or [])
    if mismatched:
        name, found, expected = mismatched[0]
        raise CheckpointError(f"{folder.path.name}: the weights do not match config.json: {len(mismatched)} "
                              f"tensors differ, e.g. {name} is {tuple(found)} in the files but the config "
                              f"needs {tuple(expected)}.")
    missing = sorted(info.get("missing_keys") or [])
    if missing:
        raise CheckpointError(f"{folder.path.name}: {len(missing)} weights the config needs are not in the "
                              f"safetensors files (e.g. {', '.join(missing[:3])}); refusing to fill them at random.")
    return model.eval()


@contextlib.contextmanager
def quiet():
    """transformers' load reports and progress bars off (this is a library); restored afterwards."""
    from transformers.utils import logging
    verbosity, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()
