"""The walkthrough's layer switch: a MoE layer of the shipped trained model olmoe-tiny (the default, the same model
/heatmap and /variants open with), fed the real hidden state of each token of the sentence, or the sidebar's
seeded random layer.

The sidebar's N picks which olmoe-tiny (it ships with 4, 8 and 16 experts: the nearest is used), its k and
capacity factor act on the shown layer. The older moeviz-lm stays reachable: a link with `model=moeviz-lm`, or
a link made before olmoe-tiny was the default (it has `trained` but no `model`), shows it with a notice.
A link that says trained=0 keeps the random layer."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from moeviz.app.controls import Controls
from moeviz.app.lm_heatmap import LM_NAME
from moeviz.app.params import parse_flag, parse_int
from moeviz.app.runners import TokenSource, checkpoint_model, trained_lm
from moeviz.app.url import set_url_value, url_value
from moeviz.hf.shipped import DEFAULT_MODEL, display_name, nearest_olmoe, shipped_olmoe


@dataclass(frozen=True)
class TrainedPick:
    """Which trained model and MoE layer the walkthrough shows (pass it to runners.build_walkthrough)."""
    model: str  # a shipped olmoe-tiny folder name, or LM_NAME
    path: str  # its folder ("" for moeviz-lm)
    layer: int  # position among the model's MoE layers
    requested_experts: int  # the sidebar's N


def _use_default() -> None:
    st.session_state["_walk_model"] = DEFAULT_MODEL  # a callback: the next run's choice


def _wants_lm() -> bool:
    """The walkthrough shows moeviz-lm when the link or this session names it, or when the link predates
    olmoe-tiny (it carries `trained` but no `model`); the notice's button returns to olmoe-tiny."""
    chosen = st.session_state.get("_walk_model")
    if chosen is None:
        legacy = "trained" in st.query_params and "model" not in st.query_params
        chosen = LM_NAME if legacy else url_value("model", DEFAULT_MODEL, str)
        st.session_state["_walk_model"] = chosen
    return chosen == LM_NAME


def pick_trained(source: TokenSource, controls: Controls) -> TrainedPick | None:
    """A toggle for the trained model (on unless the link says trained=0), and which of its MoE layers; None
    while the random layer is in use."""
    wants_lm = _wants_lm()  # before `trained` is written back: a link that had it but no `model` is an old one
    on = st.toggle("Trained model", key="trained", value=url_value("trained", True, parse_flag),
                   help="On: a MoE layer of olmoe-tiny, a tiny model with OLMoE's architecture trained here, fed "
                        "each token's real hidden state (its router was trained with the model); the sidebar's N "
                        f"picks the shipped olmoe-tiny nearest it ({shipped_counts()} experts ship, each its own "
                        "trained model), k and capacity act on the layer. Off: a layer with random weights built "
                        "from the sidebar (its router, seed and N apply).")
    set_url_value("trained", on)
    if not on:
        return None
    if source.source != "sentence":
        st.info("The trained model reads text: pick “A sentence (its tokens)” above to use it.", icon=":material/info:")
        return None
    if wants_lm:
        st.warning("This link shows moeviz-lm, moeviz's older language model, as links made before olmoe-tiny "
                   "became the app's trained model did. Every other page now opens with olmoe-tiny.",
                   icon=":material/history:")
        st.button("Use olmoe-tiny instead", key="walk_use_default", on_click=_use_default)
        name, path = LM_NAME, ""
        layers = trained_lm(controls.num_experts, controls.top_k, controls.capacity_factor).model.cfg.n_layers
    else:
        name, folder = nearest_olmoe(controls.num_experts)
        path = str(folder)
        layers = len(checkpoint_model(name, path).blocks)
    set_url_value("model", name)
    return TrainedPick(name, path, layer_radio(layers), controls.num_experts)


def layer_radio(layers: int) -> int:
    """Which MoE layer of the trained model (URL key `lm_layer`, shared by / and /variants)."""
    layer = st.radio("MoE layer", list(range(layers)), horizontal=True, key="lm_layer",
                     index=min(url_value("lm_layer", 0, parse_int(0, 15)), layers - 1),
                     format_func=lambda i: f"layer {i}",
                     help=f"The model has {layers} Transformer blocks, each with its own MoE layer (own router, "
                          "own experts). A later layer gets hidden states the earlier blocks have worked on, so it "
                          "routes the same token differently.")
    set_url_value("lm_layer", layer)
    return layer


def pick_olmoe(controls: Controls) -> TrainedPick:
    """The shipped olmoe-tiny nearest the sidebar's N and one of its MoE layers (/variants)."""
    name, folder = nearest_olmoe(controls.num_experts)
    set_url_value("model", name)
    layers = len(checkpoint_model(name, str(folder)).blocks)
    return TrainedPick(name, str(folder), layer_radio(layers), controls.num_experts)


def shipped_counts() -> str:
    """The expert counts olmoe-tiny ships with, in words: "4, 8 and 16"."""
    counts = [str(e) for e in shipped_olmoe()]
    return counts[0] if len(counts) == 1 else f"{', '.join(counts[:-1])} and {counts[-1]}"


def another_model_note(name: str, num_experts: int) -> str:
    """Where the sidebar's N switches the model: the shown layer belongs to another trained model."""
    return (f"Another trained model: N = {num_experts} ships as its own model, {display_name(name, num_experts)}, "
            f"with its own weights, so a token's hidden state and router scores differ from those of "
            f"{display_name(DEFAULT_MODEL)}.")


def knobs_fold(walk) -> tuple[str, bool]:
    """The fold holding knobs_used and the N note: its label names the N, k and capacity that ran (so they stay in
    view when folded), and it opens by itself when the layer does not use the sidebar's N or k. Folded the rest of
    the time, it no longer pushes each step ~100 px further down the page."""
    cfg, asked = walk.layer.cfg, walk.controls
    cap = "off" if cfg.capacity_factor is None else f"{cfg.capacity_factor:g}"
    label = (f"Used here: N = {cfg.num_experts} · k = {cfg.top_k} · capacity factor {cap}. What each sidebar knob "
             "does on this page" + (" (N switches between the shipped trained models)" if walk.trained else ""))
    return label, (cfg.num_experts, cfg.top_k) != (asked.num_experts, asked.top_k)


def knobs_used(pick: TrainedPick | None, walk) -> str:
    """One line for the page body: the N, k and capacity the shown layer really uses, and which sidebar knobs act
    here (the sidebar shows what was asked for; this says what ran)."""
    cfg = walk.layer.cfg
    cap = "off" if cfg.capacity_factor is None else f"{cfg.capacity_factor:g}"
    used = f"**Used here:** N = {cfg.num_experts} · k = {cfg.top_k} · capacity factor {cap}"
    if pick is None:
        return used + ". Every sidebar knob acts on this random layer except α (nothing is trained on this page)."
    asked = walk.controls
    notes = []
    if pick.model != LM_NAME and cfg.num_experts != asked.num_experts:
        notes.append(f"the sidebar asks for N = {asked.num_experts}; olmoe-tiny ships with {shipped_counts()} "
                     f"experts, so the nearest ({cfg.num_experts}) is shown")
    if cfg.top_k != asked.top_k:
        notes.append(f"k = {asked.top_k} is more than this model's {cfg.num_experts} experts")
    if pick.model != LM_NAME and cfg.top_k != 2:
        notes.append("the model was trained with k = 2: other k reuse its router's scores, untrained for that k")
    notes.append("sidebar knobs that do not act here: Router (this model routes softmax → top-k), Seed (its "
                 "weights are trained) and α (the model was trained once, with its own α; the Load balancing page trains "
                 "live)")
    line = "; ".join(notes)
    other = pick.model not in (LM_NAME, DEFAULT_MODEL)  # the sidebar's N switched to another shipped model
    switched = f" {another_model_note(pick.model, cfg.num_experts)}" if other else ""
    return f"{used}. {line[0].upper()}{line[1:]}.{switched}"
