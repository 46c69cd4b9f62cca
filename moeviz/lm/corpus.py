"""The training text: the standard library's own documentation (`pydoc_data.topics`), offline in every Python.

The 79 help topics are split by topic (not by a cut through the middle of one), deterministically:
every VAL_EVERY-th topic in sorted order is validation text, the rest train. A topic never straddles the split.

Prose vs code, per character: the docs are Sphinx text, where code examples and grammar rules are indented
blocks. A non-blank line that starts with at least CODE_INDENT spaces counts as code; every other line as prose.
It is a heuristic: an indented list item counts as code, and inline code (`"for"`) counts as prose.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

VAL_EVERY = 10  # topics 0, 10, 20, ... (sorted by name) are validation: about a tenth of the text
CODE_INDENT = 3  # Sphinx's text writer indents literal blocks by 3 spaces
TOPIC_SEPARATOR = "\n\n"


def topics() -> dict[str, str]:
    """Topic name -> help text, from the running Python's pydoc_data (no download)."""
    from pydoc_data.topics import topics as pydoc_topics
    return {name: pydoc_topics[name] for name in sorted(pydoc_topics)}


@dataclass(frozen=True)
class Split:
    train: str
    val: str
    train_topics: tuple[str, ...]
    val_topics: tuple[str, ...]


def split(val_every: int = VAL_EVERY) -> Split:
    """The deterministic train/validation split by topic."""
    named = topics()
    names = list(named)
    val = tuple(n for i, n in enumerate(names) if i % val_every == 0)
    train = tuple(n for n in names if n not in val)
    join = TOPIC_SEPARATOR.join
    return Split(join(named[n] for n in train), join(named[n] for n in val), train, val)


def code_mask(text: str, indent: int = CODE_INDENT) -> np.ndarray:
    """(len(text),) bool: True for characters on an indented (code or grammar) line."""
    mask = np.zeros(len(text), dtype=bool)
    start = 0
    for line in text.splitlines(keepends=True):
        if line.strip() and line.startswith(" " * indent):
            mask[start:start + len(line)] = True
        start += len(line)
    return mask


def token_is_code(offsets, mask: np.ndarray) -> np.ndarray:
    """(T,) bool per token from character offsets (start, end): code when its last character is code.

    The last character, because a byte-level token often begins with the space before a word."""
    ends = np.array([max(s, e - 1) for s, e in offsets], dtype=np.int64)
    if len(mask) == 0:
        return np.zeros(len(ends), dtype=bool)
    return mask[np.clip(ends, 0, len(mask) - 1)]
