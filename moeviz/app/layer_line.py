"""The standard "layer line": one caption, the same on every page, saying which layer the page's numbers come from.

Pages use different layers under the same sidebar values (the walkthrough's trained model or a 32-wide random
layer, /compute's 256-wide one, the quiz's own, ...), so each page states its layer in the same words and
order: trained or random, d_model, d_hidden, N, k, parameters (counted by moeviz.costs, the numbers
/compute shows). A learner comparing two pages compares two of these lines.
"""
from __future__ import annotations

import streamlit as st

from moeviz.config import MoEConfig
from moeviz.costs import layer_costs
from moeviz.text import escape_markdown

PREFIX = "Layer on this page:"  # every layer line starts with it (the AppTest looks for it on every page)
MODEL_PREFIX = "Model on this page:"  # the line of a real checkpoint, whose layers the page shows all at once


def layer_config(layer) -> MoEConfig:
    """The MoEConfig of a MoEConfig, or of anything that carries one as `.cfg` (an MoELayer, a VariantRun)."""
    cfg = getattr(layer, "cfg", layer)
    if not isinstance(cfg, MoEConfig):
        raise TypeError(f"layer_line needs a MoEConfig or an object with one as .cfg, not {type(layer).__name__}.")
    return cfg


def layer_line_text(layer, trained: bool, note: str = "") -> str:
    """The line's Markdown: `trained` says whether the weights were learned (True) or drawn at random (False);
    `note` (our own words, never user text) says what is special about this page's layer."""
    cfg = layer_config(layer)
    costs = layer_costs(cfg.d_model, cfg.d_hidden, cfg.num_experts, cfg.top_k, cfg.activation, cfg.shared_expert)
    words = "**trained** weights" if trained else "**random** weights (never trained)"
    shared = " + 1 shared expert" if cfg.shared_expert else ""
    line = (f"{PREFIX} {words} · d_model {cfg.d_model} · d_hidden {cfg.d_hidden} · N = {cfg.num_experts} "
            f"experts{shared} · k = {cfg.top_k} · {costs['total_params']:,} parameters "
            f"({costs['active_params']:,} used per token)")
    return f"{line}. {note}" if note else f"{line}."


def model_line_text(routing) -> str:
    """The layer line of a real checkpoint (moeviz.hf), from a CheckpointRouting's model info and traces (an
    uploaded trace may lack some info fields): family, layers (MoE and dense), N, k, parameters total and active."""
    info, first = routing.model_info or {}, routing.traces[0]
    family = info.get("family") or routing.model_type or "unknown family"
    moe, dense = len(routing.traces), len(routing.dense_layers)
    shared = " + shared experts" if info.get("shared_experts") else ""
    params = (f" · {info['params_total']:,} parameters ({info['params_active']:,} used per token)"
              if isinstance(info.get("params_total"), int) and isinstance(info.get("params_active"), int) else "")
    where = f" · {info['dtype']} on {info['device']}" if info.get("dtype") and info.get("device") else ""
    name = routing.model_name or "uploaded trace"
    weights = "**trained** weights" if info.get("trained_on") else "weights as loaded (trained or not: unknown)"
    return (f"{MODEL_PREFIX} {weights} · {escape_markdown(name)} · {escape_markdown(str(family))} · "
            f"{moe + dense} layers ({moe} MoE, {dense} dense) · N = {first.num_experts} experts{shared} · "
            f"k = {first.top_k}{params}{escape_markdown(where)}.")


def layer_line(layer, trained: bool, note: str = "", where=None) -> None:
    """Draw the layer line as a caption (in `where`, a container or column, if given)."""
    (where or st).caption(layer_line_text(layer, trained, note))
