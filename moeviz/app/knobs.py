"""Which sidebar knobs act on the page: each page says it as data, the sidebar and the layer line read it.

A learner must never move a slider and see nothing change without being told why. So every page declares, in
its `PageInfo.knobs` (moeviz.app.nav), one `KnobUse` per view of the page (the walkthrough's trained model and
random layer, /heatmap's checkpoint and moeviz's own LM): the shared knobs that do *not* act there, each with a
one-line reason. The sidebar dims those knobs and prints the reason under each; the layer line names the knobs
that do act. A page whose view is known only after its own widgets have answered calls `knobs_here(view)`;
a page whose layer has its own N and k (a trained model, a question's layer) shows them next to the controls
through `show_used` (the layer line calls it).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

import streamlit as st

from moeviz.app.params import SHARED_KEYS
from moeviz.config import MoEConfig

# How the layer line and the sidebar name each knob (the sidebar's labels, shortened).
KNOB_NAMES = {"num_experts": "N", "top_k": "k", "router": "router", "capacity_factor": "capacity factor",
              "balance_weight": "α", "seed": "seed"}
_RUN = "_moeviz_knobs"  # session state: this run's sidebar slots and the page's declaration


@dataclass(frozen=True)
class KnobUse:
    """One view of a page: the shared knobs that do not act on it, each with why (every other knob acts)."""
    idle: Mapping[str, str] = field(default_factory=dict)  # knob key -> one line: why it does not act here
    own_layer: str = ""  # whose N and k the view uses when not the sidebar's, e.g. "the trained model's"

    def __post_init__(self):
        unknown = set(self.idle) - set(SHARED_KEYS)
        if unknown:
            raise ValueError(f"not shared knobs: {sorted(unknown)}")
        object.__setattr__(self, "idle", MappingProxyType(dict(self.idle)))

    @property
    def acting(self) -> tuple[str, ...]:
        """The knobs that act, in SHARED_KEYS' order."""
        return tuple(key for key in SHARED_KEYS if key not in self.idle)


def acting_words(acting) -> str:
    """'N, k and capacity factor': the acting knobs (keys, any order) as the layer line names them, always
    in SHARED_KEYS' order."""
    names = [KNOB_NAMES[key] for key in SHARED_KEYS if key in acting]
    if not names:
        return "none"
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def knobs_sentence(acting) -> str:
    """The layer line's tail: which sidebar knobs (keys, any order) move this layer."""
    if not set(acting) & set(SHARED_KEYS):
        return "No sidebar knob acts on this layer."
    return f"Sidebar knobs that act here: {acting_words(acting)}."


def idle_css() -> str:
    """Static CSS that dims a knob while its "not used" line is on screen: the line sits in a container keyed
    idle_<knob>_<n> (n: a count per run, as a key may appear once), and :has() finds it. Fixed rules, added once
    per run with the app's stylesheet: a rule written when the page names its view would pile up (Streamlit
    sends a style-only st.html to a container of its own, never replaced)."""
    sidebar = '[data-testid="stSidebar"]'
    rules = [f'{sidebar}:has([class*="st-key-idle_{key}_"]) .st-key-{key}' for key in SHARED_KEYS]
    rules += [f'{sidebar}:has([class*="st-key-idle_{ALL}_"]) .st-key-{key}' for key in SHARED_KEYS]
    # Greyed, not faded: opacity would lower the label's contrast below WCAG AA (axe flagged 3.49:1 at 0.5).
    return ",\n".join(rules) + " { filter: grayscale(1); border-left: 3px dashed #8a8f98; padding-left: 6px; }"


def start(views: Mapping[str, KnobUse] | None, values: dict) -> dict:
    """Called by the sidebar before its knobs: this run's record (the page's views, the first one current)."""
    record = {"views": dict(views or {}), "slots": {}, "used": None, "values": values, "draws": 0}
    record["view"] = next(iter(record["views"]), None)
    st.session_state[_RUN] = record
    return record


def slot(record: dict, key: str) -> None:
    """Reserve, under the knob `key` just drawn, the place for its "not used here" line (`ALL`: above the
    knobs, the one line of a page on which none acts for the same reason)."""
    record["slots"][key] = st.empty()


ALL = "all"  # the slot above the knobs


def finish(record: dict) -> None:
    """Called by the sidebar after its knobs: the place of the used N and k, then the current view's lines."""
    record["used"] = st.empty()
    _draw(record)


def current() -> KnobUse | None:
    """The view of the page this run shows (None on a page that declared nothing, e.g. in a unit test)."""
    record = st.session_state.get(_RUN)
    if not record or record["view"] is None:
        return None
    return record["views"][record["view"]]


def knobs_here(view: str) -> None:
    """Say which of the page's declared views is on screen (e.g. the walkthrough's "random" layer), once its own
    widgets know; the sidebar's lines and the layer line follow."""
    record = st.session_state[_RUN]
    if view not in record["views"]:
        raise KeyError(f"this page declares no view {view!r} (it has {', '.join(record['views'])})")
    record["view"] = view
    _draw(record)


def lines(idle: Mapping[str, str]) -> dict[str, str]:
    """The sidebar's "not used" lines by slot: one per idle knob, or one above them all when every knob is idle
    for the same reason."""
    if set(idle) == set(SHARED_KEYS) and len(set(idle.values())) == 1:
        return {ALL: f"**No knob below acts on this page.** {next(iter(idle.values()))} They keep their values "
                     "for the other pages."}
    return {key: f":material/block: **Not used on this page.** {why}" for key, why in idle.items()}


def _draw(record: dict) -> None:
    use = record["views"].get(record["view"]) if record["view"] else None
    shown = lines(use.idle if use else {})
    record["draws"] += 1
    for key, place in record["slots"].items():
        if key == ALL and key in shown:  # a box, not a grey line: a reader missed the line above the knobs
            place.container(key=f"idle_{key}_{record['draws']}").info(shown[key], icon=":material/block:")
        elif key in shown:  # the keyed container is what dims the knob (idle_css)
            place.container(key=f"idle_{key}_{record['draws']}").caption(shown[key])
        else:
            place.empty()


def used_text(num_experts: int, top_k: int, sidebar_k: int, values: dict, whose: str) -> str | None:
    """The sidebar's line when the page's layer does not have the sidebar's N and k (None when it does)."""
    if num_experts == values["num_experts"] and top_k == sidebar_k:
        return None
    whose = f" ({whose})" if whose else ""
    return (f":material/info: **This page uses N = {num_experts}, k = {top_k}**{whose}, not the sidebar's "
            f"N = {values['num_experts']}, k = {sidebar_k}.")


def show_used(num_experts: int, top_k: int) -> None:
    """Show next to the controls the N and k the page's layer actually has, when they are not the sidebar's."""
    record = st.session_state.get(_RUN)
    if not record or record["used"] is None:
        return
    use = current() or KnobUse()
    values = record["values"]
    # Where the sidebar's router acts, the k it runs is the sidebar's k (Switch: 1, and the slider says so).
    sidebar_k = (MoEConfig.routed_top_k(values["router"], values["top_k"]) if "router" in use.acting
                 else values["top_k"])
    text = used_text(num_experts, top_k, sidebar_k, values, use.own_layer)
    if text:
        record["used"].caption(text)
    else:
        record["used"].empty()
