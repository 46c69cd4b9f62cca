"""Token ids of the corpus split, batches for training, and the two losses every model is compared on.

Validation loss is measured on non-overlapping windows of `context + 1` tokens of the validation split (every
target predicted once, with whatever context precedes it inside its window), so every model and the unigram
baseline are scored on exactly the same targets.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from moeviz.lm import corpus


@dataclass(frozen=True)
class TokenSplit:
    train: torch.Tensor  # (N_train,) int64
    val: torch.Tensor  # (N_val,) int64


def encode_split(tokenizer, split: corpus.Split, max_chars: int | None = None) -> TokenSplit:
    """Token ids of both halves; `max_chars` keeps only a prefix of each (for quick tests)."""
    cut = (lambda text: text[:max_chars]) if max_chars else (lambda text: text)
    ids = lambda text: torch.tensor(tokenizer.encode(cut(text)).ids, dtype=torch.long)
    return TokenSplit(ids(split.train), ids(split.val))


def random_batch(ids: torch.Tensor, batch_size: int, context: int, generator: torch.Generator):
    """(inputs, targets), each (B, context): random windows of the training ids, targets shifted by one."""
    starts = torch.randint(0, len(ids) - context - 1, (batch_size,), generator=generator)
    windows = torch.stack([ids[s:s + context + 1] for s in starts.tolist()])  # (B, context + 1)
    return windows[:, :-1], windows[:, 1:]


def eval_windows(ids: torch.Tensor, context: int) -> torch.Tensor:
    """(W, context + 1) non-overlapping windows covering the ids (the ragged tail is left out)."""
    W = (len(ids) - 1) // context
    if W < 1:
        raise ValueError(f"need more than {context} tokens to evaluate, got {len(ids)}.")
    return torch.stack([ids[w * context: w * context + context + 1] for w in range(W)])


@torch.inference_mode()
def validation_loss(model, ids: torch.Tensor, batch_size: int = 64) -> float:
    """Mean next-token cross-entropy (nats per token) over the evaluation windows of `ids`."""
    windows = eval_windows(ids, model.cfg.context)
    total, count = 0.0, 0
    for chunk in windows.split(batch_size):
        logits = model(chunk[:, :-1]).logits
        total += F.cross_entropy(logits.flatten(0, 1), chunk[:, 1:].flatten(), reduction="sum").item()
        count += chunk[:, 1:].numel()
    return total / count


def unigram_loss(train_ids: torch.Tensor, val_ids: torch.Tensor, vocab_size: int, context: int) -> float:
    """Cross-entropy of the train-set token frequencies (add-one smoothed) on the same validation targets."""
    counts = torch.bincount(train_ids, minlength=vocab_size).double() + 1.0
    log_p = torch.log(counts / counts.sum())
    targets = eval_windows(val_ids, context)[:, 1:].flatten()
    return float(-log_p[targets].mean())


def perplexity(nats: float) -> float:
    return math.exp(nats)
