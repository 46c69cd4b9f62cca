"""A small byte-level BPE tokenizer (the `tokenizers` package) trained on the training split of the corpus.

Byte-level means any Unicode text encodes (emoji, right-to-left scripts, control characters) with no unknown
token: what BPE has not merged falls back to single bytes. The trained tokenizer ships as JSON next to the
checkpoints; `train_tokenizer` rebuilds it offline from `pydoc_data`.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"
TOKENIZER_FILE = CHECKPOINT_DIR / "tokenizer.json"
VOCAB_SIZE = 1024  # whole common words merge; the embedding table (and the output matmul) stay small
END_OF_TEXT = "<|endoftext|>"  # separates topics in training


def train_tokenizer(text: str, vocab_size: int = VOCAB_SIZE) -> Tokenizer:
    """Byte-level BPE fitted on `text` (deterministic for the same text and vocab size)."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[END_OF_TEXT], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator([text], trainer=trainer)
    return tokenizer


def load_tokenizer(path: str | Path = TOKENIZER_FILE) -> Tokenizer:
    """The shipped tokenizer (or one at `path`); a clear error when the file is missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No tokenizer at {path}: run `python -m moeviz.lm.train` to build it.")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as error:  # tokenizers raises a bare Exception on bad JSON
        raise ValueError(f"{path} is not a valid tokenizer file: {error}") from None


@lru_cache(maxsize=4)
def shipped_tokenizer(path: str = str(TOKENIZER_FILE)) -> Tokenizer:
    return load_tokenizer(path)


def token_label(tokenizer: Tokenizer, token_id: int) -> str:
    """A readable label for one token: its decoded text, with spaces and newlines made visible."""
    text = tokenizer.decode([int(token_id)], skip_special_tokens=False)
    return text.replace(" ", "␣").replace("\n", "⏎").replace("\t", "⇥") or "∅"
