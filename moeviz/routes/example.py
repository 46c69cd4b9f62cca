"""A synthetic routing dump in vLLM's layout, for the app's built-in example and the streaming benchmark.

Each token's k experts are (base + shift_l + j) mod E for j < k, with `base` drawn from a Zipf-like law: every row
names k distinct experts, a few experts are hot, and each layer has its own hot set (shifted by 7 experts a layer).
A token keeps its `base` from one layer to the next with probability STICKY, else draws a new one, so tokens take
paths through the layers, as real models' tokens do (the co-selection view then has something to show), while
each layer's load keeps the same law. It is made up, and says so where it is shown; real dumps come from
moeviz.routes' readers.
"""
from __future__ import annotations

import io

import numpy as np

EXAMPLE_SHAPE = dict(tokens=4096, layers=8, top_k=4, experts=32)  # the page's example: small enough to cache
STICKY = 0.6  # chance a token keeps its place in the hot order at the next layer: a path, not noise


def routing_block(rng: np.random.Generator, tokens: int, layers: int, top_k: int, experts: int,
                  zipf: float = 1.1) -> np.ndarray:
    """(tokens, layers, top_k) int32 expert ids, k distinct per row, skewed toward a per-layer hot set."""
    hot = 1.0 / np.arange(1, experts + 1) ** zipf
    hot /= hot.sum()
    fresh = rng.choice(experts, size=(tokens, layers), p=hot)
    keep = rng.random((tokens, layers)) < STICKY
    base = fresh.copy()
    for layer in range(1, layers):  # a kept base is a mixture of draws from `hot`: the layer's load law stays
        base[:, layer] = np.where(keep[:, layer], base[:, layer - 1], fresh[:, layer])
    base = base[:, :, None]
    shift = (np.arange(layers) * 7 % experts).reshape(1, layers, 1)  # layer l's hottest expert is 7 l mod E
    return ((base + shift + np.arange(top_k)) % experts).astype("<i4")


def write_npy(f, tokens: int, layers: int, top_k: int, experts: int, seed: int = 0,
              block_tokens: int = 20_000) -> np.ndarray:
    """Write the dump as .npy to binary file f a block at a time; returns its (layers, experts) counts."""
    rng = np.random.default_rng(seed)
    counts = np.zeros((layers, experts), dtype=np.int64)
    np.lib.format.write_array_header_2_0(f, {"descr": "<i4", "fortran_order": False,
                                             "shape": (tokens, layers, top_k)})
    for start in range(0, tokens, block_tokens):
        block = routing_block(rng, min(block_tokens, tokens - start), layers, top_k, experts)
        counts += np.stack([np.bincount(block[:, l].ravel(), minlength=experts) for l in range(layers)])
        f.write(block.tobytes())
    return counts


def example_npy(seed: int = 0) -> bytes:
    """The app's built-in example dump (.npy bytes, EXAMPLE_SHAPE)."""
    buffer = io.BytesIO()
    write_npy(buffer, seed=seed, **EXAMPLE_SHAPE)
    return buffer.getvalue()
