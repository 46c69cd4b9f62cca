"""The walkthrough's token source switch: the sidebar's seeded random layer, or a real MoE layer of the trained
tiny language model (moeviz.lm), fed the real hidden state of each token of the sentence."""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import Callable

import streamlit as st

from moeviz.app.controls import Controls
from moeviz.app.params import parse_flag, parse_int
from moeviz.app.url import set_url_value, url_value
from moeviz.lm.shipped import load_shipped, trained_dense, trained_walkthrough
from moeviz.walkthrough import WalkthroughRun


@dataclass(frozen=True)
class TrainedSource:
    run: WalkthroughRun  # the trained layer's sparse forward on the sentence's real hidden states
    dense: Callable  # () -> DenseRun for the misreading, on the same layer and states
    controls: Controls  # the sidebar's controls with the trained layer's N, k and router
    caption: str  # what the page is showing, in words


@st.cache_resource(max_entries=8, show_spinner="Loading the trained model…")
def _cached_lm(num_experts: int, top_k: int, capacity_factor: float | None):
    return load_shipped(num_experts, top_k, capacity_factor)


@st.cache_resource(max_entries=32, show_spinner=False)
def _cached_run(text: str, layer: int, num_experts: int, top_k: int, capacity_factor: float | None):
    return trained_walkthrough(text, layer, num_experts, top_k, capacity_factor)


def pick_trained(source, controls: Controls) -> TrainedSource | None:
    """A toggle for the trained model (and which of its layers); None while the random layer is in use."""
    on = st.toggle("Use the trained language model", key="trained",
                   value=url_value("trained", False, parse_flag),
                   help="Route the sentence through a real MoE layer of a tiny language model trained on Python's "
                        "documentation, fed each token's real hidden state, instead of a random layer.")
    set_url_value("trained", on)
    if not on:
        return None
    if source.source != "sentence":
        st.info("The trained model reads text: pick “Words of a sentence” above to use it.", icon=":material/info:")
        return None
    lm = _cached_lm(controls.num_experts, controls.top_k_any_router, controls.capacity_factor)
    layers = lm.model.cfg.n_layers
    layer = st.radio("MoE layer of the trained model", list(range(layers)), horizontal=True, key="lm_layer",
                     index=url_value("lm_layer", 0, parse_int(0, layers - 1)), format_func=lambda i: f"layer {i}")
    set_url_value("lm_layer", layer)
    args = (source.text, layer, controls.num_experts, controls.top_k_any_router, controls.capacity_factor)
    run = _cached_run(*args)
    caption = (f"MoE layer {layer} of a tiny language model trained on Python's documentation: {lm.num_experts} "
               f"experts, softmax → top-{lm.top_k} routing, fed the real hidden state of each token of your sentence "
               f"(the model's own subword tokens). Every number is read from that layer's tensors; the sidebar's "
               f"router and seed do not apply. " + " ".join(lm.notes()))
    trained_controls = replace(controls, num_experts=lm.num_experts, top_k=lm.top_k, router="softmax_topk")
    return TrainedSource(run, partial(trained_dense, *args), trained_controls, caption)
