"""Train the shipped default checkpoint: a small OLMoE (transformers' OlmoeForCausalLM) on prose, Python, HTML.

    nice -n 10 python -m moeviz.hf.train                  # tokenizer + MoE + dense baseline, into moeviz/hf/checkpoints
    nice -n 10 python -m moeviz.hf.train --num-experts 16 --no-dense   # the same model with 16 experts: olmoe-tiny-e16
    python -m moeviz.hf.train --steps 5 --max-chars 20000 --out /tmp/olmoe   # a smoke run, seconds

Writes <out>/olmoe-tiny/ (<out>/olmoe-tiny-e<N>/ for another expert count) in the Hugging Face layout (config.json, model.safetensors, tokenizer files) plus
training.json: the corpus, the command, the validation loss (overall and per kind of text) of the MoE model, of a
dense model with the same active feed-forward size (an OLMoE with one expert of width top_k x the expert width:
one SwiGLU MLP, no routing) and of a unigram baseline, and how much each layer's top-1 expert tells about the
kind of text. The dense model is measured, not shipped. Seeded; one thread by default.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from moeviz.hf import corpus
from moeviz.hf.families import FAMILIES
from moeviz.lm import data
from moeviz.lm.tokenizer import train_tokenizer
from moeviz.lm.train import update

MODEL_NAME = "olmoe-tiny"
SHIPPED_EXPERT_COUNTS = (4, 8, 16)  # as moeviz-lm ships 4, 8 and 16, so the sidebar's N acts on the default model
SHIPPED_OUT = Path(__file__).resolve().parent / "checkpoints"
DIMS = dict(hidden_size=64, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=4,
            max_position_embeddings=128, tie_word_embeddings=True)
NUM_EXPERTS, TOP_K, EXPERT_WIDTH = 8, 2, 64  # NUM_EXPERTS: the default model's; --num-experts trains others
AUX_COEF = 0.01  # OLMoE's router_aux_loss_coef


def model_name(num_experts: int) -> str:
    """The folder name of the shipped model with `num_experts` experts: olmoe-tiny (8), olmoe-tiny-e16, ..."""
    return MODEL_NAME if num_experts == NUM_EXPERTS else f"{MODEL_NAME}-e{num_experts}"


def model_config(vocab_size: int, num_experts: int, top_k: int, width: int, eos: int):
    from transformers import OlmoeConfig
    return OlmoeConfig(vocab_size=vocab_size, num_experts=num_experts, num_experts_per_tok=top_k,
                       intermediate_size=width, router_aux_loss_coef=AUX_COEF, norm_topk_prob=False,
                       eos_token_id=eos, bos_token_id=None, pad_token_id=None, **DIMS)


def encode(tokenizer, docs: list[str], eos: int) -> torch.Tensor:
    ids = []
    for text in docs:
        ids += tokenizer.encode(text).ids + [eos]
    return torch.tensor(ids, dtype=torch.long)


def initial_model(config, seed: int):
    """The model as training starts it: transformers' own initialisation, drawn from torch's seeded generator.
    The same config and seed give the same weights, so a shipped model's weights from before training can be
    rebuilt (the walkthrough's "untrained router") without shipping them."""
    from transformers import AutoModelForCausalLM
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(config)


def train_model(config, train_ids, val_ids: dict, steps: int, batch: int, lr: float, seed: int, log):
    model = initial_model(config, seed).train()
    context = config.max_position_embeddings
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1, betas=(0.9, 0.95))
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for step in range(steps):
        inputs, targets = data.random_batch(train_ids, batch, context, generator)
        out = model(input_ids=inputs, output_router_logits=config.num_experts > 1)
        ce = F.cross_entropy(out.logits.flatten(0, 1), targets.flatten())
        loss = ce + (AUX_COEF * out.aux_loss if config.num_experts > 1 else 0)
        update(model, optimizer, loss, step, steps, lr)
        if (step + 1) % max(1, steps // 10) == 0 or step + 1 == steps:
            log(f"  step {step + 1:5d}/{steps}  train ce {ce.item():.3f}  ({time.perf_counter() - start:.0f} s)")
    model.eval()
    return model, round(time.perf_counter() - start, 1)


@torch.inference_mode()
def validation_loss(model, ids: torch.Tensor, context: int, batch: int = 32) -> float:
    """Mean next-token cross-entropy over non-overlapping windows (moeviz.lm.data.eval_windows)."""
    windows = data.eval_windows(ids, context)
    total = 0.0
    for chunk in windows.split(batch):
        logits = model(input_ids=chunk[:, :-1]).logits
        total += F.cross_entropy(logits.flatten(0, 1), chunk[:, 1:].flatten(), reduction="sum").item()
    return total / windows[:, 1:].numel()


@torch.inference_mode()
def specialization(model, val_ids: dict, context: int) -> list[dict]:
    """Per layer: the kind mix of each expert's top-1 tokens, and how often the expert's majority kind is the
    token's kind ("purity"), against always guessing the most common kind ("baseline")."""
    rule = FAMILIES["olmoe"].rule
    routers = [layer.mlp.gate for layer in model.model.layers]
    E = routers[0].num_experts
    counts = torch.zeros(len(routers), E, len(corpus.KINDS))
    for k, kind in enumerate(corpus.KINDS):
        windows = data.eval_windows(val_ids[kind], context)[:, :-1]
        for chunk in windows.split(32):
            logits = model(input_ids=chunk, output_router_logits=True).router_logits
            for layer, (layer_logits, router) in enumerate(zip(logits, routers)):
                top1 = rule(layer_logits, router).topk_indices[:, 0]
                counts[layer, :, k] += torch.bincount(top1, minlength=E)
    rows = []
    for layer in range(len(routers)):
        c = counts[layer]
        rows.append({"layer": layer, "purity": round(float(c.max(dim=1).values.sum() / c.sum()), 3),
                     "baseline": round(float(c.sum(0).max() / c.sum()), 3),
                     "kind_share_per_expert": (c / c.sum(1, keepdim=True).clamp(min=1)).round(decimals=3).tolist(),
                     "tokens_per_expert": c.sum(1).int().tolist()})
    return rows


def run(args) -> dict:
    from transformers import PreTrainedTokenizerFast

    from moeviz.hf.model import quiet
    torch.set_num_threads(args.threads)
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    docs = [(kind, text[:args.max_chars] if args.max_chars else text) for kind, text in corpus.documents()]
    s = corpus.split(docs)
    log("corpus: " + ", ".join(f"{k} {sum(map(len, s.train[k])):,} train / {sum(map(len, s.val[k])):,} val chars"
                               for k in corpus.KINDS))
    raw = train_tokenizer(corpus.SEPARATOR.join(t for k in corpus.KINDS for t in s.train[k]), args.vocab_size)
    eos = raw.token_to_id(corpus.SEPARATOR)
    train_ids = torch.cat([encode(raw, s.train[k], eos) for k in corpus.KINDS])
    val_ids = {k: encode(raw, s.val[k], eos) for k in corpus.KINDS}
    context = DIMS["max_position_embeddings"]
    losses = {"unigram": {k: data.unigram_loss(train_ids, val_ids[k], args.vocab_size, context)
                          for k in corpus.KINDS}}
    results = {}
    for name, (E, k, width) in {"moe": (args.num_experts, TOP_K, EXPERT_WIDTH),
                                "dense": (1, 1, TOP_K * EXPERT_WIDTH)}.items():
        if name == "dense" and args.no_dense:
            continue
        log(f"training {name}: {E} expert(s), top-{k}, expert width {width}, {args.steps} steps")
        with quiet():
            model, seconds = train_model(model_config(args.vocab_size, E, k, width, eos), train_ids, val_ids,
                                         args.steps, args.batch, args.lr, args.seed, log)
        losses[name] = {kind: validation_loss(model, val_ids[kind], context) for kind in corpus.KINDS}
        results[name] = {"seconds": seconds, "params": sum(p.numel() for p in model.parameters()),
                         "model": model}
        log(f"  {name} validation loss: " + ", ".join(f"{kind} {v:.3f}" for kind, v in losses[name].items()))
    n = {k: data.eval_windows(val_ids[k], context)[:, 1:].numel() for k in corpus.KINDS}
    for name in losses:  # overall = the per-kind losses weighted by their targets
        losses[name]["all"] = sum(losses[name][k] * n[k] for k in corpus.KINDS) / sum(n.values())
    moe = results["moe"]["model"]
    out = Path(args.out) / model_name(args.num_experts)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, eos_token=corpus.SEPARATOR)
    with quiet():
        moe.save_pretrained(out)
        tokenizer.save_pretrained(out)
    record = {
        "command": "python -m moeviz.hf.train " + " ".join(sys.argv[1:]), "args": vars(args),
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "transformers": __import__("transformers").__version__},
        "corpus": {k: {"train_chars": sum(map(len, s.train[k])), "val_chars": sum(map(len, s.val[k])),
                       "train_docs": len(s.train[k]), "val_docs": len(s.val[k]), "val_targets": n[k]}
                   for k in corpus.KINDS},
        "train_tokens": len(train_ids),
        "validation_loss": {name: {k: round(v, 4) for k, v in d.items()} for name, d in losses.items()},
        "models": {name: {"seconds": r["seconds"], "params": r["params"]} for name, r in results.items()},
        "specialization": specialization(moe, val_ids, context)}
    (out / "training.json").write_text(json.dumps(record, indent=2))
    log(f"wrote {out}")
    return record


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m moeviz.hf.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(SHIPPED_OUT))
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--vocab-size", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-chars", type=int, default=None, help="cut every document (smoke runs)")
    parser.add_argument("--num-experts", type=int, default=NUM_EXPERTS, help="experts per MoE layer")
    parser.add_argument("--no-dense", action="store_true", help="skip the dense baseline")
    args = parser.parse_args(argv)
    threads = torch.get_num_threads()
    try:
        record = run(args)
    finally:  # a caller in the same process (a test) keeps its own thread count
        torch.set_num_threads(threads)
    v = record["validation_loss"]
    print(json.dumps({name: v[name]["all"] for name in v}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
