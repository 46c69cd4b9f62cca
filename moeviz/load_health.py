"""Which MoE layers reach the glossary's "failing" load, and what chance alone reaches on as few tokens.

    crowded_layers(layers, traces)        # [(layer, max/mean load)] at or past FAILING_MAX_MEAN_LOAD
    chance_max_mean(T, k, N)              # mean max/mean load of a router that picks k experts at random

The glossary's threshold (max/mean load of 2 or more) describes routing statistics over many tokens. On a short
text each expert gets only T·k/N token copies, so a few more on one expert double its share: chance_max_mean
gives the learner the yardstick, measured by routing random picks, not estimated. Pure torch, no streamlit, and no
cache of its own: the app keeps its results in its one cache layer (moeviz.app.runners.chance_max_mean).
"""
from __future__ import annotations

import torch

from moeviz.glossary import FAILING_MAX_MEAN_LOAD

CHANCE_DRAWS = 200  # random texts per estimate on a short text: its standard error is then about 1% of the value
CHANCE_BUDGET = 4_000_000  # random scores drawn at most (fewer draws for a long text, whose ratio varies less)


def crowded_layers(layers, traces) -> list[tuple[int, float]]:
    """(layer, max/mean load) of every layer whose max/mean load is FAILING_MAX_MEAN_LOAD or more."""
    return [(layer, float(t.metrics["max_mean_load"])) for layer, t in zip(layers, traces)
            if t.metrics["max_mean_load"] >= FAILING_MAX_MEAN_LOAD]


def chance_max_mean(num_tokens: int, top_k: int, num_experts: int, draws: int = CHANCE_DRAWS,
                    seed: int = 0) -> float:
    """Mean max/mean load over `draws` (fewer past CHANCE_BUDGET scores) seeded texts of `num_tokens` tokens when every token picks `top_k`
    distinct experts uniformly at random: what a router that learnt nothing shows on a text this short."""
    generator = torch.Generator().manual_seed(seed)
    ratios = []
    for _ in range(max(10, min(draws, CHANCE_BUDGET // (num_tokens * num_experts)))):  # one text at a time: draws × T × N scores at once would be large for long texts
        picks = torch.rand(num_tokens, num_experts, generator=generator).topk(top_k, dim=-1).indices  # (T, k)
        load = torch.bincount(picks.reshape(-1), minlength=num_experts).float()  # (N,)
        ratios.append(float(load.max() / load.mean()))
    return sum(ratios) / len(ratios)


__all__ = ["crowded_layers", "chance_max_mean", "CHANCE_DRAWS", "FAILING_MAX_MEAN_LOAD"]
