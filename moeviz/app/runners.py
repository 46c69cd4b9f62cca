"""Cached layers and runs: built once per configuration and shared by every session of the server.

Cache keys are primitive arguments (ints, floats, strings), never widgets or configs, so a rerun that changes
nothing hits the cache. Cached objects are shared between sessions: treat them as read-only, and never put a
model in session state (it would be copied per session and outlive the cache's bounds).
"""
from __future__ import annotations

import os

import streamlit as st
import torch

from moeviz.config import MoEConfig
from moeviz.layer import MoELayer
from moeviz.walkthrough import DenseRun, WalkthroughRun, run_dense, run_walkthrough, walkthrough_inputs

# One intra-op thread per forward pass by default. The app's layers are tiny, so a second thread buys nothing and
# costs a lot on a shared server: measured on the 2-core classroom machine under load, building a 24-expert layer
# took 23 ms with 2 threads and 4 ms with 1, its forward 8 ms and 3 ms. Concurrency comes from the sessions.
# MOEVIZ_TORCH_THREADS overrides it (e.g. a single-user demo of large batches). Inter-op threads are left alone:
# setting them after torch has started work raises.
TORCH_THREADS = int(os.environ.get("MOEVIZ_TORCH_THREADS", "1") or 1)
torch.set_num_threads(max(1, min(TORCH_THREADS, os.cpu_count() or 1)))

WALKTHROUGH_D_MODEL = 32  # wide enough to look like a hidden state, narrow enough to draw every number
WALKTHROUGH_D_HIDDEN = 64


@st.cache_resource(max_entries=16, show_spinner=False)
def cached_layer(num_experts: int, top_k: int, router: str, capacity_factor: float | None, seed: int,
                 d_model: int = WALKTHROUGH_D_MODEL, d_hidden: int = WALKTHROUGH_D_HIDDEN) -> MoELayer:
    """An eval-mode MoELayer with random weights from `seed` (shared: do not train or modify it)."""
    cfg = MoEConfig(d_model=d_model, d_hidden=d_hidden, num_experts=num_experts, top_k=top_k, router=router,
                    capacity_factor=capacity_factor, seed=seed)
    return MoELayer(cfg).eval()


@st.cache_resource(max_entries=64, show_spinner=False)
def cached_walkthrough(num_experts: int, top_k: int, router: str, capacity_factor: float | None, seed: int,
                       source: str, text: str, vector_seed: int) -> WalkthroughRun:
    """The walkthrough's numbers for one layer and one input (a sentence, or seeded random vectors)."""
    layer = cached_layer(num_experts, top_k, router, capacity_factor, seed)
    labels, x = walkthrough_inputs(source, text, vector_seed, layer.cfg.d_model)
    return run_walkthrough(layer, labels, x)


@st.cache_resource(max_entries=16, show_spinner=False)
def cached_dense(num_experts: int, top_k: int, router: str, capacity_factor: float | None, seed: int,
                 source: str, text: str, vector_seed: int) -> DenseRun:
    """The "every expert votes" runs for the same layer and input (only when the page shows the misreading)."""
    layer = cached_layer(num_experts, top_k, router, capacity_factor, seed)
    _, x = walkthrough_inputs(source, text, vector_seed, layer.cfg.d_model)
    return run_dense(layer, x)


def _key(controls, source: str, text: str, vector_seed: int) -> tuple:
    return (controls.num_experts, controls.top_k, controls.router, controls.capacity_factor, controls.seed,
            source, text, vector_seed)


def walkthrough_for(controls, source: str, text: str, vector_seed: int) -> WalkthroughRun:
    """cached_walkthrough for the sidebar's Controls."""
    return cached_walkthrough(*_key(controls, source, text, vector_seed))


def dense_for(controls, source: str, text: str, vector_seed: int) -> DenseRun:
    """cached_dense for the sidebar's Controls."""
    return cached_dense(*_key(controls, source, text, vector_seed))
