"""The shipped default model, olmoe-tiny, as the walkthrough and /variants use it; and every model's one name line.

    variants = shipped_olmoe()                     # {num_experts: folder}: olmoe-tiny (8), olmoe-tiny-e4, -e16, ...
    name, folder = nearest_olmoe(16)               # the shipped olmoe-tiny with the expert count nearest 16
    layer = as_moe_layer(model.blocks[1], top_k=3) # that OLMoE block as a moeviz MoELayer (same weights, same maths)
    describe(model.info())                         # "olmoe-tiny: a tiny model with OLMoE's architecture, trained ..."

olmoe-tiny is transformers' own OlmoeForCausalLM, trained here by moeviz.hf.train. Its MoE block is exactly a
moeviz MoELayer with router "softmax_topk", norm_topk_prob off and SwiGLU experts, so the walkthrough can run that
block with moeviz's own layer (every intermediate named, the learner's k and capacity applied) on the hidden
states the real model fed it; a test checks the two give the same output at the model's own k.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from moeviz.config import MoEConfig
from moeviz.hf.capture import MoEBlock
from moeviz.hf.folders import SHIPPED_DIR
from moeviz.hf.train import MODEL_NAME, NUM_EXPERTS
from moeviz.layer import MoELayer

DEFAULT_MODEL = MODEL_NAME  # the one trained model a learner meets first, on every page that routes text
KIND_WORDS = {"prose": "English prose", "python": "Python code", "html": "HTML"}


def shipped_olmoe(root: Path = SHIPPED_DIR) -> dict[int, Path]:
    """{num_experts: folder} of the shipped olmoe-tiny models (the default and its other expert counts)."""
    found = {}
    for folder in sorted(root.glob(f"{MODEL_NAME}*")):
        config = folder / "config.json"
        if config.is_file() and (folder.name == MODEL_NAME or folder.name.startswith(MODEL_NAME + "-e")):
            found[int(json.loads(config.read_text())["num_experts"])] = folder
    return dict(sorted(found.items()))


def nearest_olmoe(num_experts: int, root: Path = SHIPPED_DIR) -> tuple[str, Path]:
    """(name, folder) of the shipped olmoe-tiny whose expert count is nearest `num_experts` (ties: the smaller)."""
    found = shipped_olmoe(root)
    if not found:
        raise FileNotFoundError(f"No {MODEL_NAME} in {root}: run `python -m moeviz.hf.train`.")
    best = min(found, key=lambda e: (abs(e - num_experts), e != NUM_EXPERTS, e))
    return found[best].name, found[best]


def display_name(name: str, num_experts: int | None = None) -> str:
    """A model's name on screen: every shipped olmoe-tiny with its expert count, "olmoe-tiny (16 experts)", so the
    N = 8 default and its other expert counts read as one scheme (the link keeps the folder name: model=olmoe-tiny,
    model=olmoe-tiny-e16). Any other name is returned as it is."""
    if name == MODEL_NAME:
        count = num_experts or NUM_EXPERTS
    elif name.startswith(MODEL_NAME + "-e") and name[len(MODEL_NAME) + 2:].isdigit():
        count = int(name[len(MODEL_NAME) + 2:])
    else:
        return name
    return f"{MODEL_NAME} ({count} experts)"


def family_words(info: dict) -> str:
    """The model line's family: a model moeviz trained has only its family's architecture ("OLMoE's architecture,
    trained here"), never the family's maker; any other checkpoint its family label."""
    family = str(info.get("family") or "")
    if info.get("trained_on") and family:
        return f"{family.split(' (')[0]}'s architecture, trained here"
    return family


def is_shipped_olmoe(name: str) -> bool:
    return any(folder.name == name for folder in shipped_olmoe().values())


def as_moe_layer(block: MoEBlock, top_k: int | None = None, capacity_factor: float | None = None) -> MoELayer:
    """An OLMoE sparse MoE block as a moeviz MoELayer: the same router and SwiGLU expert weights (copied, float32,
    CPU), routing softmax -> top-k without renormalising, as OlmoeTopKRouter does; `top_k` (default the block's
    own, clamped to its experts) and `capacity_factor` are the learner's."""
    router, experts = block.router, block.experts
    E, D = router.weight.shape
    H = experts.down_proj.shape[-1]
    k = max(1, min(top_k or router.top_k, E))
    cfg = MoEConfig(d_model=D, d_hidden=H, num_experts=E, top_k=k, router="softmax_topk",
                    norm_topk_prob=bool(router.norm_topk_prob), capacity_factor=capacity_factor,
                    activation="swiglu", device="cpu")
    layer = MoELayer(cfg).eval()
    with torch.no_grad():
        layer.router.weight.copy_(router.weight.float())
        layer.experts.w_in.copy_(experts.gate_up_proj.float().transpose(1, 2))  # (E, 2H, D) -> (E, D, 2H): gate, up
        layer.experts.w_out.copy_(experts.down_proj.float().transpose(1, 2))  # (E, D, H) -> (E, H, D)
    return layer


def training_record(folder: Path) -> dict:
    """training.json next to a shipped model ({} when there is none)."""
    path = Path(folder) / "training.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def trained_on(record: dict) -> str:
    """What a shipped model read in training, in words, from its training.json ("" if unknown)."""
    corpus = record.get("corpus") or {}
    if not corpus:
        return ""
    chars = sum(int(c.get("train_chars", 0)) for c in corpus.values())
    kinds = [KIND_WORDS.get(k, k) for k in corpus]
    return f"{chars:,} characters of {', '.join(kinds[:-1])} and {kinds[-1]} from Python's own installation"


def layer_inputs(routing, layer_index: int, max_tokens: int) -> tuple[list[str], torch.Tensor]:
    """(token labels, the hidden states (T, D) the model fed MoE layer `layer_index`), for the first `max_tokens`
    tokens of a routing made with states=True."""
    x = routing.traces[layer_index].input
    if x is None:
        raise ValueError("route the text with states=True: the walkthrough needs the layer's input.")
    return list(routing.tokens[:max_tokens]), x[:max_tokens].clone()


def variants_on_logits(router_logits: torch.Tensor, top_k: int, capacity_factor: float | None = None,
                       bias_steps: int = 0) -> list:
    """Every moeviz router variant on one layer's real router logits (T, E), as /variants shows them: the same
    scores, each rule's choice (moeviz.hf.whatif). DeepSeek's selection bias is replayed `bias_steps` times on
    these tokens with the layer's own update (MoELayer.update_selection_bias), starting from zero. Noisy top-k
    routes with its training-time noise (seed NOISE_SEED), as the variant's note says."""
    from moeviz.hf.whatif import what_if
    from moeviz.routers import router_spec
    from moeviz.variants import NOISE_SEED, VARIANTS, VariantRun
    runs = []
    for variant in VARIANTS:
        bias = _replayed_bias(router_logits, top_k, capacity_factor, bias_steps) \
            if router_spec(variant.router).selection_bias else None
        w = what_if(router_logits, variant.key, top_k, capacity_factor, selection_bias=bias, noise_seed=NOISE_SEED)
        selection_bias = bias if bias is not None else torch.zeros(router_logits.shape[1])
        runs.append(VariantRun(variant, w.config, w.trace, (~w.trace.dropped).sum(dim=1), selection_bias))
    return runs


def _replayed_bias(router_logits: torch.Tensor, top_k: int, capacity_factor: float | None, steps: int):
    from moeviz.hf.whatif import what_if
    bias = torch.zeros(router_logits.shape[1])
    for _ in range(steps):
        w = what_if(router_logits, "sigmoid_bias", top_k, capacity_factor, selection_bias=bias)
        layer = MoELayer(w.config)
        with torch.no_grad():
            layer.selection_bias.copy_(bias)
        layer.update_selection_bias(w.trace.tokens_per_expert)
        bias = layer.selection_bias.detach().clone()
    return bias


def sentence_tokens(text: str, max_tokens: int | None = None) -> list[str]:
    """The labels of olmoe-tiny's tokens of `text` (its own tokenizer.json, read with the tokenizers library): the
    one tokenization every page uses, also for a random layer, so a sentence is the same tokens everywhere."""
    from tokenizers import Tokenizer

    from moeviz.lm.analysis import token_labels
    tokenizer = Tokenizer.from_file(str(SHIPPED_DIR / MODEL_NAME / "tokenizer.json"))
    labels = token_labels(tokenizer, text, tokenizer.encode(text))
    return labels[:max_tokens] if max_tokens is not None else labels


def describe(info: dict) -> str:
    """The one sentence naming a model, the same on every page: what it is, how it got its weights, its size.
    `info` is CheckpointModel.info() (or a trace file's copy of it, or moeviz.lm.shipped.ShippedLM.info())."""
    name = display_name(info["name"], info.get("num_experts")) if info.get("name") else "an uploaded trace"
    size = (f"{info['params_total']:,} parameters in the whole model"  # (a page's layer line counts its layer)
            if isinstance(info.get("params_total"), int) else "size unknown")
    if info.get("trained_on"):  # a model moeviz trained and ships
        what = info.get("what") or f"a tiny model with {info.get('family', 'its family')}'s architecture"
        return f"{name}: {what}, trained here on {info['trained_on']}; {size}."
    if info.get("uploaded"):
        return (f"{name}: a routing trace read from a file; moeviz cannot tell how that model's weights were made "
                f"(trained or random); {size}.")
    return (f"{name}: a {info.get('family', 'transformers')} checkpoint from the server's model folders, loaded "
            f"with transformers' own model class; its weights are whatever the folder holds (moeviz does not "
            f"know whether they were trained); {size}.")


def initial_layer(model, layer_index: int, top_k: int | None = None,
                  capacity_factor: float | None = None) -> MoELayer | None:
    """MoE layer `layer_index` of a shipped model (a CheckpointModel) as it was before training: transformers'
    initialisation rebuilt from the model's config and the seed its training.json records (None without one)."""
    from moeviz.hf.capture import find_blocks
    from moeviz.hf.model import decoder, quiet
    from moeviz.hf.train import initial_model
    args = training_record(model.path).get("args") or {}
    if "seed" not in args:
        return None
    with quiet():
        fresh = initial_model(model.config, int(args["seed"])).float().eval()
    blocks, _ = find_blocks(decoder(fresh).layers, model.family)
    return as_moe_layer(blocks[layer_index], top_k, capacity_factor)


__all__ = ["DEFAULT_MODEL", "display_name", "family_words", "shipped_olmoe", "nearest_olmoe", "is_shipped_olmoe",
           "as_moe_layer", "training_record", "trained_on", "describe", "initial_layer", "layer_inputs",
           "variants_on_logits", "sentence_tokens"]
