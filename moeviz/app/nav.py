"""The app's pages (URLs and what each teaches: README's page table) and the sidebar links to them.

Each link carries the shared controls as query parameters: that is how values survive a page change.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitAPIException
from streamlit.runtime.scriptrunner import get_script_run_ctx

from moeviz.app.knobs import KnobUse
from moeviz.app.params import SHARED_KEYS


@dataclass(frozen=True)
class PageInfo:
    path: str  # relative to app.py, as st.page_link and AppTest.switch_page want it
    label: str
    icon: str
    url: str  # the URL path Streamlit gives the file (name without the number prefix)
    # Which sidebar knobs act here, per view of the page (the first is the view a plain visit shows; a page
    # names another with app.knobs_here(view) once its own widgets know). See moeviz.app.knobs.
    knobs: dict[str, KnobUse]


# Why a knob does not act, in the words the sidebar prints under it (one line each).
NO_TRAINING = "Nothing trains on this page; α acts where a router learns (Load balancing)."
LEARNED = "The weights were learned in training, not drawn from a seed."
OWN_RULE = "The model routes with the rule it was trained with (softmax → top-k)."
# olmoe-tiny's rule is OLMoE's, whose kept probabilities are not renormalised: the sidebar's "softmax → top-k"
# (renormalised, as Mixtral) is another rule (a reader met weights summing to 0.340 here and to 1 on /quiz)
OLMOE_RULE = "Routes with OLMoE's rule, as trained: softmax → top-k, kept probabilities not renormalised."
OWN_QUESTION = "Each question builds its own small layer from its number."
TEXT_ONLY = "The glossary is text only: no layer here."

PAGES = (
    PageInfo("app.py", "Walkthrough: one token", ":material/route:", "/", {
        "trained": KnobUse({"router": OLMOE_RULE, "seed": LEARNED,
                            "balance_weight": "Nothing trains here: the model was trained before it shipped."},
                           own_layer="the trained model's"),
        "random": KnobUse({"balance_weight": "Nothing trains here: the layer keeps its random weights."}),
    }),
    PageInfo("pages/1_heatmap.py", "Router heatmap", ":material/grid_on:", "/heatmap", {
        "checkpoint": KnobUse({
            "num_experts": "The model keeps the experts it was trained with (see the model line).",
            "top_k": "The model routes with its own k, as trained (see the model line).",
            "router": "The model routes with its family's own rule; the what-if section tries others.",
            "capacity_factor": "The model routes without a limit; the what-if section has its own capacity "
                               "slider.",
            "seed": "The weights are the checkpoint's own, not drawn from a seed.",
            "balance_weight": NO_TRAINING}, own_layer="the model's own"),
        "moeviz-lm": KnobUse({"router": OWN_RULE, "seed": LEARNED, "balance_weight": NO_TRAINING},
                             own_layer="the trained model's"),
    }),
    PageInfo("pages/2_balance.py", "Load balancing", ":material/balance:", "/balance", {
        "aux_loss": KnobUse(),
        "aux_free": KnobUse({"balance_weight": "The bias method balances without a balance loss (α = 0).",
                             "router": "The bias method needs DeepSeek-V3's sigmoid router, so it uses that."}),
    }),
    PageInfo("pages/3_parallel.py", "Capacity & parallelism", ":material/hub:", "/parallel", {
        "page": KnobUse({"balance_weight": NO_TRAINING}),
    }),
    PageInfo("pages/4_compute.py", "Sparse vs dense compute", ":material/speed:", "/compute", {
        "page": KnobUse({"balance_weight": NO_TRAINING,
                         "seed": "Counts and timings follow the shape; the random weights are drawn with seed 0."}),
    }),
    PageInfo("pages/5_variants.py", "Router variants", ":material/compare_arrows:", "/variants", {
        "page": KnobUse({"router": "This page runs every router rule side by side.",
                         "seed": LEARNED, "balance_weight": NO_TRAINING}, own_layer="the trained model's"),
    }),
    PageInfo("pages/6_quiz.py", "Quiz", ":material/quiz:", "/quiz", {
        "page": KnobUse(dict.fromkeys(SHARED_KEYS, OWN_QUESTION), own_layer="this question's own layer"),
    }),
    PageInfo("pages/7_glossary.py", "Glossary", ":material/menu_book:", "/glossary", {
        "page": KnobUse(dict.fromkeys(SHARED_KEYS, TEXT_ONLY)),
    }),
    PageInfo("pages/8_replicas.py", "Expert replicas", ":material/content_copy:", "/replicas", {
        "page": KnobUse({"balance_weight": NO_TRAINING,
                         "capacity_factor": "Section 7's run is dropless (no copy dropped); the dump's drops have "
                                            "their own slider.",
                         "seed": "The routing is read from the dump or the model, not drawn from a seed."}),
    }),
)


def current_page() -> PageInfo | None:
    """The page this run draws, found from the script Streamlit runs (None outside a Streamlit run)."""
    ctx = get_script_run_ctx()
    if ctx is None:
        return None
    manager = ctx.pages_manager
    script = manager.get_pages().get(manager.current_page_script_hash, {}).get("script_path")
    if not script:
        return None
    path = Path(script)
    for page in PAGES:  # by the file's path under its app root (AppTest may run a copy of the app elsewhere)
        if path.parts[-len(Path(page.path).parts):] == Path(page.path).parts:
            return page
    return None


def draw_links(query_params: dict[str, str]) -> None:
    """One st.page_link per page, each carrying `query_params`."""
    for page in PAGES:
        try:
            st.page_link(page.path, label=page.label, icon=page.icon, query_params=query_params)
        except StreamlitAPIException:
            # A page Streamlit has not registered: a script run outside the app folder (AppTest.from_string), or
            # a page file added after a server with the file watcher off started. Leave its link out.
            continue
