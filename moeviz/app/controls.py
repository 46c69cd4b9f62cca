"""The shared sidebar: the layer's knobs, the device, the page links. One call at the top of every page."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import streamlit as st

from moeviz.app import affinity, charts, classroom, knobs, presenter
from moeviz.app.style import apply_style
from moeviz.app.nav import current_page, draw_links
from moeviz.app.params import (BALANCE_WEIGHTS, CAPACITY_FACTORS, MAX_EXPERTS, MAX_SEED, MAX_TOP_K,
                               MIN_EXPERTS, capacity_value, fit_top_k, shared_url_params)
from moeviz.app.url import forget_link, shared_values, write_url
from moeviz.config import ROUTER_LABELS, ROUTERS, MoEConfig
from moeviz.routers import router_spec
from moeviz.device import describe_device, resolve_device


@dataclass(frozen=True)
class Controls:
    """The shared controls' values for this run (k already fits the experts)."""
    num_experts: int
    top_k: int  # the k the learner picked; the sidebar's router may run another (Switch: 1), see moe_config
    router: str
    balance_weight: float
    capacity_factor: float | None  # None = no capacity limit
    seed: int
    device: str  # where layers run, in words, e.g. "CPU (2 threads)"

    def moe_config(self, **fields) -> MoEConfig:
        """The one way from the sidebar to a layer: a MoEConfig with these controls and the k the router runs;
        `fields` sets the rest (d_model, d_hidden, drop_policy, ...)."""
        return MoEConfig(num_experts=self.num_experts, top_k=MoEConfig.routed_top_k(self.router, self.top_k),
                         router=self.router, capacity_factor=self.capacity_factor, seed=self.seed, **fields)


@lru_cache(maxsize=1)
def device_label() -> str:
    """The device layers run on, in words (probed once per process: it cannot change while serving)."""
    return describe_device(resolve_device("auto"))


TOOLS_WORDS = ("*Presets* set all the layer knobs at once, to a classroom case or a real model's shape. "
               "*Presenter mode* enlarges the page for a projector. The *link* reopens this exact view. *Figures* "
               "downloads this page's charts as one file. *Lesson* strings views into a sequence to step through; "
               "*Class room* lets students follow your screen live.")


def sidebar(page_title: str = "moeviz") -> Controls:
    """Draw the shared sidebar (page links, layer controls, device) and return the controls' values.

    Call it first on every page. Values start from the link on a session's first run (bad values warn and
    fall back), and are written back to the link and carried by the page links on every run."""
    st.set_page_config(page_title=page_title, page_icon="🔀", layout="wide")
    forget_link()  # the last run's "link to this view" place is not this run's
    values = shared_values()
    presenter_settings = presenter.presenter_state()  # before the widgets: it says which ones are locked
    figures = charts.start_page_figures()
    with st.sidebar:
        st.markdown("### :material/alt_route: moeviz\nTop-k routing in a real Mixture-of-Experts layer")
        links = st.container()
        st.divider()
        _layer_widgets(values, knobs.start(getattr(current_page(), "knobs", None), values))
        st.caption(f"Running on **{device_label()}**")
    controls = Controls(num_experts=values["num_experts"], top_k=values["top_k"], router=values["router"],
                        balance_weight=values["balance_weight"],
                        capacity_factor=capacity_value(values["capacity_factor"]), seed=values["seed"],
                        device=device_label())
    query_params = shared_url_params(values)  # the user's k stays in the link even while switch runs k = 1
    write_url(query_params)
    with st.sidebar:
        st.divider()
        # what the buttons below are for, in one place: a newcomer met "Figures", "Lesson" and "Class room" unexplained
        st.markdown("**Teaching and sharing**")
        st.caption(TOOLS_WORDS)
        presenter.draw_classroom_tools(values)  # presets, presenter mode, link to this view
        charts.figures_download_button(figures, page_title)
    classroom.sidebar_section()  # lessons (sidebar, and the lesson bar on top of the page) and class rooms
    with links:  # presenter mode travels with the page links too
        draw_links({**query_params, **presenter.presenter_params(presenter_settings)})
    apply_style()
    presenter.apply_presenter()
    affinity.self_check()  # behind a load balancer: which process serves this browser, and is it always the same
    return controls


def _layer_widgets(values: dict, knob_record: dict) -> None:
    """The layer's knobs; each widget shows `values` and writes its answer back into it. Under each, a place
    for its "not used on this page" line, and under them all the N and k the page really uses (moeviz.app.knobs).

    Each widget's state is set from `values` before it is drawn (see `bound`), never through `value=`: a keyed
    widget keeps its identity when `value=` changes, so the browser would go on showing, and sending back, its
    old value after a preset or a page change."""
    st.markdown("**The MoE layer**")
    knobs.slot(knob_record, knobs.ALL)
    values["num_experts"] = st.slider(
        "Experts (N)", MIN_EXPERTS, MAX_EXPERTS, **bound("num_experts", values),
        help="How many expert MLPs the layer holds. Only k of them work on any one token.")
    knobs.slot(knob_record, "num_experts")
    values["router"] = st.selectbox(
        "Router", ROUTERS, format_func=ROUTER_LABELS.get, **bound("router", values),
        help="The gating rule that turns router scores into chosen experts and weights. Softmax → top-k "
             "renormalises the k weights to sum to 1, as Mixtral does; the Router variants page also shows "
             "the form that keeps the raw probabilities (OLMoE). Noisy top-k adds learned random noise to the "
             "scores before choosing; expert choice turns it round: each expert picks its tokens.")
    knobs.slot(knob_record, "router")
    values["top_k"] = _top_k_widget(values)
    knobs.slot(knob_record, "top_k")
    values["capacity_factor"] = st.select_slider(
        "Capacity factor", CAPACITY_FACTORS, **bound("capacity_factor", values),
        help="Slots per expert, C = ceil(factor · tokens · k / N). A token copy that finds its expert full is "
             "dropped there; the token keeps its other experts, and only one that lost all k passes the layer "
             "unchanged. 'off' = no limit, as in dropless MoE (Switch then still uses its training factor 1.25, "
             "expert choice 1).")
    knobs.slot(knob_record, "capacity_factor")
    values["balance_weight"] = st.select_slider(
        "Balance-loss weight (α)", BALANCE_WEIGHTS, **bound("balance_weight", values),
        format_func=lambda w: "0 (off)" if w == 0 else f"{w:g}",
        help="How strongly training pushes the router to spread tokens evenly. Matters while training.")
    knobs.slot(knob_record, "balance_weight")
    values["seed"] = int(st.number_input(
        "Seed (layer weights)", 0, MAX_SEED, step=1, **bound("seed", values),
        help="Draws the layer's random weights. The same seed gives the same layer on any machine."))
    knobs.slot(knob_record, "seed")
    knobs.finish(knob_record)


def bound(key: str, values: dict) -> dict:
    """Keyword arguments that tie the widget `key` to `values[key]`: its state is set from `values` on every
    run, and a move of the widget is copied back (its callback runs before the page's script)."""
    st.session_state[key] = values[key]
    return {"key": key, "on_change": _copy_back, "args": (key, values), "disabled": presenter.locked(key)}


def _copy_back(key: str, values: dict) -> None:
    values[key] = st.session_state[key]


def _top_k_widget(values: dict) -> int:
    """The k slider, bounded by the experts. Switch routing runs k = 1 and says so; the chosen k is kept."""
    values["top_k"], _ = fit_top_k(values["top_k"], values["num_experts"])
    if router_spec(values["router"]).fixed_top_k:
        st.caption("k = 1: Switch routing sends each token to exactly one expert.")
        return values["top_k"]
    # The slider's max is part of its identity: when N changes the bound, it is a new widget at the fitted value.
    return st.slider("Experts per token (k)", 1, min(MAX_TOP_K, values["num_experts"]), **bound("top_k", values),
                     help="Top-k: how many experts each token is sent to.")
