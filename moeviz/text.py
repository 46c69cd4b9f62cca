"""Sentence -> tokens -> vectors for an untrained layer: repeatable, word-specific inputs with no tokenizer.

A random MoE layer has no embedding table, so each token gets a vector drawn from a generator seeded by a hash
of the token itself: the same word always gets the same vector (and so, before the position signal, the same
routing), different words get unrelated vectors. A small sinusoidal position signal (as in the original
Transformer) is added so that a repeated word at two places is *almost*, not exactly, the same input.
"""
from __future__ import annotations

import csv
import hashlib
import io
import math
import re

import torch

DEFAULT_SENTENCE = "The router sends each word to only two of the experts."
MAX_TOKENS = 48  # a sentence, not a document: figures stay readable and a forward pass stays instant
POSITION_SCALE = 0.1  # position signal size relative to the unit-variance token vector

# A word (letters/digits, keeping inner apostrophes: "don't") or any single punctuation mark.
_TOKEN_PATTERN = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:&=\"'^])")


def split_tokens(text: str, max_tokens: int = MAX_TOKENS) -> list[str]:
    """Words and punctuation marks of `text`, in order, at most `max_tokens` of them."""
    return _TOKEN_PATTERN.findall(text)[:max_tokens]


def escape_markdown(text: str) -> str:
    """`text` made inert for Markdown: every ASCII punctuation mark that Markdown or Streamlit's directives
    (:red[..], $..$, :emoji:) could read is backslash-escaped, so user text always shows as typed."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _token_seed(token: str, seed: int) -> int:
    # blake2b, not hash(): Python salts str hashes per process, and vectors must match across runs and machines.
    digest = hashlib.blake2b(f"{seed}\x00{token.lower()}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") & 0x7FFF_FFFF_FFFF_FFFF


def token_vector(token: str, d_model: int, seed: int = 0) -> torch.Tensor:
    """The (d_model,) vector of one token: standard normal entries from a generator seeded by the token."""
    generator = torch.Generator().manual_seed(_token_seed(token, seed))
    return torch.randn(d_model, generator=generator)


def position_signal(num_tokens: int, d_model: int) -> torch.Tensor:
    """Sinusoidal position codes (T, d_model): sin on even dims, cos on odd dims (Vaswani et al. 2017)."""
    position = torch.arange(num_tokens, dtype=torch.float32)[:, None]  # (T, 1)
    pair = torch.arange(0, d_model, 2, dtype=torch.float32)  # (ceil(D/2),)
    angle = position / (10000.0 ** (pair / d_model))  # (T, ceil(D/2))
    signal = torch.zeros(num_tokens, d_model)
    signal[:, 0::2] = torch.sin(angle)
    signal[:, 1::2] = torch.cos(angle[:, : d_model // 2])
    return signal


def embed_tokens(tokens: list[str], d_model: int, seed: int = 0,
                 position_scale: float = POSITION_SCALE) -> torch.Tensor:
    """(T, d_model) input for a layer: each token's hashed vector plus a small position signal."""
    if not tokens:
        return torch.zeros(0, d_model)
    vectors = torch.stack([token_vector(token, d_model, seed) for token in tokens])  # (T, D)
    return vectors + position_scale * position_signal(len(tokens), d_model)


def random_vectors(num_tokens: int, d_model: int, seed: int) -> torch.Tensor:
    """(T, d_model) standard normal vectors from `seed`: inputs that carry no word at all."""
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randn(num_tokens, d_model, generator=generator)


ROUNDING_NOTE = ("Largest difference between the two, number by number. Below 0.00001 it is float rounding: "
                 "the same numbers.")
ROUNDING_LIMIT = 1e-5  # below this a difference is float32 rounding, and is said in words


def difference(value: float) -> str:
    """A max-abs difference in words a student reads, never scientific notation: 'exactly equal' for 0,
    'match to 8 decimal places' below ROUNDING_LIMIT (the difference is under 10^-8), else a plain decimal with
    two significant digits ('0.012')."""
    if value == 0:
        return "exactly equal"
    if value < ROUNDING_LIMIT:
        return f"match to {math.ceil(-math.log10(value)) - 1} decimal places"  # |difference| < 10^-places
    return f"{value:.{max(0, 1 - math.floor(math.log10(value)))}f}"


def plural(count: int, noun: str) -> str:
    """'1 expert', '3 experts': the count and the noun, with an English -s when the count is not 1."""
    return f"{count} {noun if count == 1 else noun + 's'}"


def random_labels(num_tokens: int) -> list[str]:
    """Labels for random vectors, shaped like token labels: 'v0', 'v1', ..."""
    return [f"v{i}" for i in range(num_tokens)]


__all__ = [
    "DEFAULT_SENTENCE", "MAX_TOKENS", "POSITION_SCALE", "split_tokens", "token_vector", "position_signal",
    "embed_tokens", "random_vectors", "random_labels", "escape_markdown", "plural", "difference",
    "ROUNDING_NOTE", "ROUNDING_LIMIT",
]


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # cells a spreadsheet would evaluate (CSV injection)


def csv_text(rows: list[dict], fieldnames=None) -> str:
    """Rows as CSV text with a header. A text cell that a spreadsheet would run as a formula (it starts with
    = + - @ or a tab/CR) gets a leading ', so it is shown, not run: every download of user text goes through here."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(fieldnames or (rows[0] if rows else ())), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "'" + v if isinstance(v, str) and v.startswith(FORMULA_STARTS) else v
                         for k, v in row.items()})
    return out.getvalue()
