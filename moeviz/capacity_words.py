"""The capacity formula in words, written one way on every page: C = ceil(cf · T · k / N) slots per expert.

T is the one symbol whose meaning changes with the page (a batch, one GPU's tokens, a text, a whole dump), so every
caller says what T is; k and N are given as numbers where the page has them. Plain text, no streamlit."""
from __future__ import annotations

CAPACITY_FORMULA = "C = ceil(cf · T · k / N)"


def capacity_symbols(tokens: str, top_k: int | None = None, num_experts: int | None = None,
                     cf: str = "the capacity factor") -> str:
    """The formula's symbols in words, in parentheses: `tokens` says what T counts on this page ("32 tokens in the
    batch"); k and N with this page's numbers where it has them, else in words."""
    k = f"{top_k} {'expert' if top_k == 1 else 'experts'} each token picks" if top_k is not None \
        else "the experts each token picks"
    n = f"{num_experts} experts" if num_experts is not None else "the number of experts"
    return f"(cf = {cf}, T = {tokens}, k = {k}, N = {n}; ceil rounds up)"


def capacity_worked(cf: float, tokens: int, top_k: int, num_experts: int, capacity: int) -> str:
    """The formula with one run's numbers: "C = ceil(cf · T · k / N) = ceil(1 · 32 · 2 / 8) = 8"."""
    return f"{CAPACITY_FORMULA} = ceil({cf:g} · {tokens:,} · {top_k} / {num_experts}) = {capacity:,}"
