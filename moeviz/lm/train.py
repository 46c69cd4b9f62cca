"""Train the tiny MoE language models (and the dense baseline) from scratch and write the shipped files.

    nice -n 10 python -m moeviz.lm.train                      # tokenizer + 4/8/16-expert models + dense, ~minutes
    python -m moeviz.lm.train --experts 4 --no-dense --max-steps 5 --max-chars 20000 --out /tmp/lm   # smoke run

Writes into --out: tokenizer.json, lm_e{N}.safetensors per expert count, lm_dense.safetensors, and summary.json
(validation losses vs the unigram baseline and the dense model, and each model's specialization statistics).
Everything is seeded; on a CPU the same command gives the same files (thread scheduling aside).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

from moeviz.lm import analysis, corpus, data
from moeviz.lm.checkpoint import file_digest, load_checkpoint, save_checkpoint
from moeviz.lm.model import LMConfig, TinyMoELM, active_params, count_params
from moeviz.lm.tokenizer import CHECKPOINT_DIR, load_tokenizer, train_tokenizer

SUMMARY_FILE = "summary.json"
TOKENIZER_NAME = "tokenizer.json"


def checkpoint_name(num_experts: int | None) -> str:
    """lm_e8.safetensors for 8 experts; lm_dense.safetensors for the dense model (None)."""
    return "lm_dense.safetensors" if num_experts is None else f"lm_e{num_experts}.safetensors"


def learning_rate(step: int, steps: int, peak: float, warmup: int) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def update(model, optimizer, loss, step: int, steps: int, lr: float) -> None:
    """One optimiser step at the schedule's learning rate for `step`, gradients clipped to norm 1 (the shipped
    models of moeviz.lm and moeviz.hf train with it)."""
    for group in optimizer.param_groups:
        group["lr"] = learning_rate(step, steps, lr, warmup=max(1, steps // 20))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()


def train_model(cfg: LMConfig, tokens: data.TokenSplit, steps: int, batch_size: int, lr: float,
                eval_every: int, log=print) -> tuple[TinyMoELM, dict]:
    """AdamW on random windows of the training ids; prints progress and the validation loss."""
    model = TinyMoELM(cfg).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1, betas=(0.9, 0.95))
    generator = torch.Generator().manual_seed(cfg.seed)
    start, history = time.perf_counter(), []
    for step in range(steps):
        inputs, targets = data.random_batch(tokens.train, batch_size, cfg.context, generator)
        loss, ce, out = model.loss(inputs, targets)
        update(model, optimizer, loss, step, steps, lr)
        if (step + 1) % eval_every == 0 or step + 1 == steps:
            val = data.validation_loss(model.eval(), tokens.val)
            model.train()
            history.append({"step": step + 1, "train_ce": round(ce.item(), 4), "val_loss": round(val, 4)})
            log(f"  step {step + 1:5d}/{steps}  train ce {ce.item():.3f}  balance {out.balance_loss.item():.3f}  "
                f"val {val:.3f}  ({time.perf_counter() - start:.0f}s)")
    return model.eval(), {"steps": steps, "seconds": round(time.perf_counter() - start, 1), "history": history}


def run(args) -> dict:
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    split = corpus.split()
    print(f"corpus: {len(split.train_topics)} train topics ({len(split.train):,} chars), "
          f"{len(split.val_topics)} validation topics ({len(split.val):,} chars)")
    tokenizer = train_tokenizer(split.train, args.vocab_size)
    tokenizer_path = out_dir / TOKENIZER_NAME
    tokenizer.save(str(tokenizer_path))
    tokenizer_sha = file_digest(tokenizer_path)
    tokens = data.encode_split(tokenizer, split, args.max_chars)
    unigram = data.unigram_loss(tokens.train, tokens.val, args.vocab_size, args.context)
    print(f"tokens: {len(tokens.train):,} train, {len(tokens.val):,} validation; unigram baseline {unigram:.3f} nats")
    base = dict(vocab_size=args.vocab_size, context=args.context, d_model=args.d_model, n_layers=args.layers,
                n_heads=args.heads, d_hidden=args.d_hidden, top_k=args.top_k, balance_weight=args.balance_weight,
                seed=args.seed)
    variants = [(e, LMConfig(num_experts=e, **base)) for e in args.experts]
    if args.dense:
        variants.append((None, LMConfig(num_experts=max(args.experts or [args.top_k]), dense=True, **base)))
    spec_text = split.train[:args.max_chars] if args.max_chars else split.train
    summary = {"unigram_val_loss": round(unigram, 4), "tokenizer": TOKENIZER_NAME, "tokenizer_sha256": tokenizer_sha,
               "train_tokens": len(tokens.train), "val_tokens": len(tokens.val),
               "val_topics": list(split.val_topics), "settings": vars(args) | {"out": str(args.out)}, "models": {}}
    for num_experts, cfg in variants:
        name = "dense" if num_experts is None else f"e{num_experts}"
        shape = f"dense FFN of width {cfg.top_k * cfg.d_hidden}" if cfg.dense else \
            f"{num_experts} experts, top-{cfg.top_k}"
        print(f"{name}: {shape}")
        model, record = train_model(cfg, tokens, args.max_steps, args.batch_size, args.lr, args.eval_every)
        path = out_dir / checkpoint_name(num_experts)
        training = {k: v for k, v in record.items() if k != "history"}
        save_checkpoint(model, path, tokenizer_sha, extra={"training": training})
        reloaded, _ = load_checkpoint(path, tokenizer_sha)  # report the loss of the file as shipped (float16)
        val = data.validation_loss(reloaded, tokens.val)
        entry = {"file": path.name, "config": cfg.to_dict(), "val_loss": round(val, 4), **record,
                 "params": count_params(reloaded), **active_params(cfg)}
        if not cfg.dense:
            stats = analysis.specialization(reloaded, tokenizer, spec_text)
            entry["specialization"] = stats
            entry["reading"] = analysis.reading(stats)
        summary["models"][name] = entry
        print(f"{name}: validation loss {val:.4f} nats (unigram {unigram:.4f})")
    (out_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=1, ensure_ascii=False))
    print_table(summary)
    return summary


def refresh_stats(out_dir: Path) -> dict:
    """Recompute the specialization statistics of the checkpoints in `out_dir` (no training) into summary.json."""
    path = out_dir / SUMMARY_FILE
    summary = json.loads(path.read_text())
    tokenizer = load_tokenizer(out_dir / TOKENIZER_NAME)
    text = corpus.split().train
    max_chars = summary["settings"].get("max_chars")
    for name, entry in summary["models"].items():
        if "specialization" in entry:
            model, _ = load_checkpoint(out_dir / entry["file"], file_digest(out_dir / TOKENIZER_NAME))
            entry["specialization"] = analysis.specialization(model, tokenizer, text[:max_chars] if max_chars else text)
            entry["reading"] = analysis.reading(entry["specialization"])
            print(f"{name}:", *entry["reading"], sep="\n  ")
    path.write_text(json.dumps(summary, indent=1, ensure_ascii=False))
    return summary


def print_table(summary: dict) -> None:
    print(f"\n{'model':8s} {'val loss':>9s} {'ppl':>8s} {'FFN active':>11s} {'FFN total':>10s} {'time':>7s}")
    print(f"{'unigram':8s} {summary['unigram_val_loss']:9.4f} {math.exp(summary['unigram_val_loss']):8.1f}")
    for name, m in summary["models"].items():
        print(f"{name:8s} {m['val_loss']:9.4f} {math.exp(m['val_loss']):8.1f} {m['ffn_active']:11,d} "
              f"{m['ffn_total']:10,d} {m['seconds']:6.0f}s")


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m moeviz.lm.train", description=__doc__.split("\n")[0])
    p.add_argument("--experts", type=int, nargs="*", default=[4, 8, 16], help="expert counts to train")
    p.add_argument("--dense", action=argparse.BooleanOptionalAction, default=True,
                   help="also train the dense model with the same active parameters")
    p.add_argument("--max-steps", "--steps", dest="max_steps", type=int, default=800)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--max-chars", type=int, default=None, help="use only this many characters of each split")
    p.add_argument("--vocab-size", type=int, default=LMConfig.vocab_size)
    p.add_argument("--context", type=int, default=LMConfig.context)
    p.add_argument("--d-model", type=int, default=LMConfig.d_model)
    p.add_argument("--layers", type=int, default=LMConfig.n_layers)
    p.add_argument("--heads", type=int, default=LMConfig.n_heads)
    p.add_argument("--d-hidden", type=int, default=LMConfig.d_hidden)
    p.add_argument("--top-k", type=int, default=LMConfig.top_k)
    p.add_argument("--balance-weight", type=float, default=LMConfig.balance_weight)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads; 1 is fastest on a small, shared CPU (more threads mostly wait)")
    p.add_argument("--out", default=str(CHECKPOINT_DIR))
    p.add_argument("--stats-only", action="store_true",
                   help="no training: recompute the specialization statistics of the checkpoints in --out")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.max_steps < 1:
        print("--max-steps must be at least 1", file=sys.stderr)
        return 2
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, args.threads))
    try:
        refresh_stats(Path(args.out)) if args.stats_only else run(args)
    finally:
        torch.set_num_threads(previous)  # when called in-process (tests), leave the caller's setting alone
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
