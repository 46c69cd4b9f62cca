"""The standard "layer line": one caption, the same on every page, saying which layer the page's numbers come from.

Pages use different layers under the same sidebar values (the walkthrough's trained model or a 32-wide random
layer, /compute's 256-wide one, the quiz's own, ...), so each page states its layer in the same words and
order: trained or random, d_model, d_hidden, N, k, parameters (counted by moeviz.costs, the numbers
/compute shows), then the sidebar knobs that act on it (moeviz.app.knobs). A learner comparing two pages compares
two of these lines.

The page's main line also says in plain words what d_model means there ("each token is a vector of d_model = 64
numbers here"), what d_hidden is, and what the parameter count is made of (expert_words): the sizes differ from
page to page, so the anchor is restated on each.

A page with several layers draws one line per section, in the same words (`section=True`: "Layer in this
section:", and `knobs=` names the knobs acting on that section's layer when they are not the page's).
"""
from __future__ import annotations

from typing import Sequence

import streamlit as st

from moeviz.app.knobs import current, knobs_sentence, show_used
from moeviz.config import MoEConfig
from moeviz.costs import config_costs
from moeviz.glossary import glossary_link
from moeviz.hf.shipped import display_name, family_words
from moeviz.text import escape_markdown

PREFIX = "Layer on this page:"  # every layer line starts with it (the AppTest looks for it on every page)
SECTION_PREFIX = "Layer in this section:"  # a section's own layer, on a page with several
# The line's words, defined where a learner first meets them (the layer line is on nearly every page).
WORDS = ("d_model: the size of each token's vector (its hidden state): each token is a vector of d_model numbers, the "
         "layer's input and output. Pages use layers of different sizes; this line names the one here. d_hidden: the "
         "width inside one expert (d_model → d_hidden → d_model). N: the experts in the layer; k: the experts each "
         "token uses. Parameters used per token: the router, k experts and any shared expert.")
MODEL_PREFIX = "Model on this page:"  # the line of a real checkpoint, whose layers the page shows all at once


def layer_config(layer) -> MoEConfig:
    """The MoEConfig of a MoEConfig, or of anything that carries one as `.cfg` (an MoELayer, a VariantRun)."""
    cfg = getattr(layer, "cfg", layer)
    if not isinstance(cfg, MoEConfig):
        raise TypeError(f"layer_line needs a MoEConfig or an object with one as .cfg, not {type(layer).__name__}.")
    return cfg


def layer_line_text(layer, trained: bool, note: str = "", *, section: bool = False,
                    knobs: Sequence[str] | None = None, trains_here: bool = False) -> str:
    """The line's Markdown: `trained` says whether the weights were learned (True) or drawn at random (False);
    `note` (our own words, never user text) says what is special about this page's layer; `section` starts it
    "Layer in this section:"; `knobs` (shared knob keys) ends it with the sidebar knobs that act on this layer."""
    cfg = layer_config(layer)
    costs = config_costs(cfg, cfg.top_k)
    words = ("**trained** weights" if trained else
             "**random** weights at the start (untrained; trained on this page)" if trains_here else
             "**random** weights (never trained)")
    shared = " + 1 shared expert" if cfg.shared_expert else ""
    line = (f"{SECTION_PREFIX if section else PREFIX} {words} · d_model {cfg.d_model} · d_hidden {cfg.d_hidden} · "
            f"N = {cfg.num_experts} experts{shared} · k = {cfg.top_k} · {costs['total_params']:,} parameters "
            f"({costs['active_params']:,} used per token)")
    if not section:  # the page's first line says in plain words what the sizes mean, at this page's size
        line = f"{line}. {size_words(cfg.d_model)}; {expert_words(cfg, costs)}"
    if note:
        line = f"{line}. {note}" + ("" if note.endswith((".", "!", "?")) else ".")
    else:
        line = f"{line}."
    return line if knobs is None else f"{line} {knobs_sentence(knobs)}"


def size_words(d_model: int) -> str:
    """d_model in plain words, for the first layer line of a page: pages use layers of different widths (the
    walkthrough's 64, /compute's 256, ...), so the size a learner anchors on is restated where it changes."""
    return f"Each token is a vector of d_model = {d_model} numbers here"


def expert_words(cfg: MoEConfig, costs: dict) -> str:
    """What d_hidden is and what the parameter count is made of, so a learner can redo the sum from the line:
    the router's d_model × N weights plus N (and any shared) experts of m weight matrices each, no biases."""
    d, h, n, m = cfg.d_model, cfg.d_hidden, cfg.num_experts, costs["matrices_per_expert"]
    mlp = glossary_link("Feed-forward MLP", "MLP")
    shape = (f"two {d} × {h} side by side, one's output multiplying the other's entry by entry, then {h} × {d}" if m == 3 else f"{d} × {h}, then {h} × {d}")
    shared = f" + 1 shared expert × {m} × {d} × {h}" if cfg.shared_expert else ""
    if costs["noise_params"]:  # noisy top-k stores a second d_model × N matrix, used only while training
        shared += f" + the noise matrix's {d} × {n} (used only in training)"
    return (f"{glossary_link('d_model and d_hidden', 'd_hidden')} = {h} is the width inside each expert, an {mlp} "
            f"of {m} weight matrices ({shape}), so the {costs['total_params']:,} parameters are the router's "
            f"{d} × {n} + {n} experts × {m} × {d} × {h}{shared}")


def model_line_text(routing) -> str:
    """The layer line of a real checkpoint (moeviz.hf), from a CheckpointRouting's model info and traces (an
    uploaded trace may lack some info fields): family, layers (MoE and dense), N, k, parameters total and active."""
    info, first = routing.model_info or {}, routing.traces[0]
    family = family_words(info) or routing.model_type or "unknown family"
    moe, dense = len(routing.traces), len(routing.dense_layers)
    shared = " + shared experts" if info.get("shared_experts") else ""
    params = (f" · {info['params_total']:,} parameters ({info['params_active']:,} used per token)"
              if isinstance(info.get("params_total"), int) and isinstance(info.get("params_active"), int) else "")
    where = f" · {info['dtype']} on {info['device']}" if info.get("dtype") and info.get("device") else ""
    name = display_name(routing.model_name, first.num_experts) if routing.model_name else "uploaded trace"
    weights = "**trained** weights" if info.get("trained_on") else "weights as loaded (trained or not: unknown)"
    return (f"{MODEL_PREFIX} {weights} · {escape_markdown(name)} · {escape_markdown(str(family))} · "
            f"{moe + dense} layers ({moe} MoE, {dense} dense) · N = {first.num_experts} experts{shared} · "
            f"k = {first.top_k}{params}{escape_markdown(where)}. {DENSE_MEANS}")


DENSE_MEANS = "A dense layer has one ordinary MLP where a MoE layer has its experts and router."


def layer_line(layer, trained: bool, note: str = "", where=None, *, section: bool = False,
               knobs: Sequence[str] | None = None, trains_here: bool = False) -> None:
    """Draw the layer line as a caption (in `where`, a container or column, if given), ending with the sidebar
    knobs that act: `knobs` for a section's own layer, else the page's (its PageInfo, moeviz.app.knobs). The
    page's main line (not a section's) also shows in the sidebar the N and k its layer really has."""
    use = current()
    if knobs is None and use is not None:
        knobs = use.acting
    if not section:
        cfg = layer_config(layer)
        show_used(cfg.num_experts, cfg.top_k)
    (where or st).caption(layer_line_text(layer, trained, note, section=section, knobs=knobs,
                                                      trains_here=trains_here), help=WORDS)


def model_line(routing, where=None) -> None:
    """Draw a real checkpoint's line (model_line_text) ending with the sidebar knobs that act on it, and show
    its N and k next to the controls (they are the model's own, whatever the sidebar says)."""
    use, first = current(), routing.traces[0]
    show_used(first.num_experts, first.top_k)
    tail = f" {knobs_sentence(use.acting)}" if use is not None else ""
    (where or st).caption(model_line_text(routing) + tail, help=WORDS)
