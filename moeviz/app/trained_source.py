"""The walkthrough's layer switch: a real MoE layer of the trained tiny language model (moeviz.lm), fed the real
hidden state of each token of the sentence (the default), or the sidebar's seeded random layer.

The default is the trained layer because step 2 says the router is learned: a learner should first see a
router that was. A link without `trained` gets it; a link that says trained=0 keeps the random layer, so links
made before the default changed still show what they showed."""
from __future__ import annotations

import streamlit as st

from moeviz.app.controls import Controls
from moeviz.app.params import parse_flag, parse_int
from moeviz.app.runners import TokenSource, trained_lm
from moeviz.app.url import set_url_value, url_value


def pick_trained(source: TokenSource, controls: Controls) -> int | None:
    """A toggle for the trained model (on unless the link says trained=0), and which of its MoE layers: the
    layer's index, or None while the random layer is in use (pass it to runners.build_walkthrough)."""
    on = st.toggle("Use the trained language model", key="trained",
                   value=url_value("trained", True, parse_flag),
                   help="On: a real MoE layer of a tiny language model trained on Python's documentation, fed each "
                        "token's real hidden state (its router was trained with the model). Off: a layer with "
                        "random weights built from the sidebar (its router, seed and N apply).")
    set_url_value("trained", on)
    if not on:
        return None
    if source.source != "sentence":
        st.info("The trained model reads text: pick “Words of a sentence” above to use it.", icon=":material/info:")
        return None
    layers = trained_lm(controls.num_experts, controls.top_k, controls.capacity_factor).model.cfg.n_layers
    layer = st.radio("MoE layer of the trained model", list(range(layers)), horizontal=True, key="lm_layer",
                     index=url_value("lm_layer", 0, parse_int(0, layers - 1)), format_func=lambda i: f"layer {i}")
    set_url_value("lm_layer", layer)
    return layer
