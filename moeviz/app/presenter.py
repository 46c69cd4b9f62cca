"""Teacher mode: a presenter switch (also `?present=1`), presets one click away, and a copyable link to the view.

Presenter mode makes text larger, collapses the sidebar and hides or locks the controls the teacher picked
(`?hide=seed,router&lock=top_k`), so a projector shows the figure and not the knobs. Hiding is CSS on
Streamlit's `st-key-<widget key>` classes; locking disables the widget (`disabled=locked(key)`), so neither mouse
nor keyboard can move it. Either way the widgets keep their values and the link stays valid.

    presenter_state()                             # once per run, before any widget that may be locked
    st.slider(..., key="top_k", disabled=locked("top_k"))
    draw_classroom_tools(values)                  # in the sidebar, after the layer's widgets
    apply_presenter()                             # once per run, after the sidebar: page config + CSS
"""
from __future__ import annotations

import streamlit as st

from moeviz.app.params import SHARED_KEYS, ParamError, parse_flag, shown
from moeviz.app.url import override, share_url, show_link, url_value
from moeviz.presets import PRESETS, PRESETS_BY_KEY, Preset

_STATE = "_moeviz_presenter"  # session-state dict: {"on": bool, "hide": tuple, "lock": tuple}
# Controls a teacher may hide or lock: the shared ones and the pages' own keyed inputs.
CONTROL_KEYS = SHARED_KEYS + ("text", "token", "step")
CONTROL_LABELS = {"num_experts": "Experts (N)", "top_k": "k", "router": "Router", "balance_weight": "Balance weight",
                  "capacity_factor": "Capacity factor", "seed": "Seed", "text": "Sentence", "token": "Token",
                  "step": "Step"}
BASE_FONT_PX = 20  # Streamlit's default is 16px; sizes are in rem, so this scales text and widgets together


def parse_keys(raw: str) -> tuple[str, ...]:
    """A comma-separated list of control keys; unknown names are a ParamError (never reach the CSS)."""
    keys = tuple(dict.fromkeys(k.strip() for k in raw.split(",") if k.strip()))
    unknown = [k for k in keys if k not in CONTROL_KEYS]
    if unknown:
        raise ParamError(f"unknown control “{shown(unknown[0])}”; use {', '.join(CONTROL_KEYS)}.")
    return keys


def presenter_css(hidden=(), font_px: int = BASE_FONT_PX) -> str:
    """The presenter stylesheet: larger base font and hidden controls. Keys must be CONTROL_KEYS."""
    for key in hidden:
        if key not in CONTROL_KEYS:
            raise ValueError(f"{key!r} is not a control key")
    rules = [f"html {{ font-size: {int(font_px)}px; }}",
             # A compact header, so a step's heading, figure and Prev / Next fit one projector screen.
             "h1 { font-size: 1.6rem !important; padding: 0 0 0.5rem 0 !important; }",
             '[data-testid="stMainBlockContainer"] { padding: 4rem 2rem 2rem 2rem !important; }',
             '[data-testid="stMainBlockContainer"] [data-testid="stVerticalBlock"] { gap: 0.75rem !important; }',
             # Streamlit's sidebar is 300 px whatever the font: at 20 px it would cut page names and the router's
             # label. In rem it grows with the font (and stays collapsed until the teacher opens it).
             '[data-testid="stSidebar"][data-collapsed="false"] { width: 24rem !important; }']
    rules += [f".st-key-{key} {{ display: none !important; }}" for key in hidden]
    return "\n".join(rules)


def presenter_state() -> dict:
    """This session's presenter settings; the link's `present`, `hide`, `lock` win when present."""
    state = st.session_state.setdefault(_STATE, {"on": False, "hide": (), "lock": ()})
    state["on"] = url_value("present", state["on"], parse_flag)
    state["hide"] = url_value("hide", state["hide"], parse_keys)
    state["lock"] = url_value("lock", state["lock"], parse_keys)
    return state


def locked(key: str) -> bool:
    """Whether presenter mode locks the control `key` in this run: pass it as the widget's `disabled=`.

    The switch and the lock list are read from their own widgets first: they sit below the layer's controls in
    the sidebar, so the settings this session stored on the last run would lag one click behind."""
    state = st.session_state.get(_STATE, {"on": False, "lock": ()})
    on = st.session_state.get("presenter_on", state["on"])
    return bool(on) and key in st.session_state.get("presenter_lock", state["lock"])


def presenter_params(state: dict) -> dict[str, str]:
    """The link parameters that carry presenter mode (none when it is off)."""
    if not state["on"]:
        return {}
    params = {"present": "1"}
    if state["hide"]:
        params["hide"] = ",".join(state["hide"])
    if state["lock"]:
        params["lock"] = ",".join(state["lock"])
    return params


def _write_presenter_url(state: dict) -> None:
    wanted = presenter_params(state)
    for key in ("present", "hide", "lock"):
        if key in wanted and st.query_params.get_all(key) != [wanted[key]]:
            st.query_params[key] = wanted[key]
        elif key not in wanted and key in st.query_params:
            del st.query_params[key]


def apply_preset(values: dict, preset: Preset) -> None:
    """Set the shared controls to `preset` (a button callback: runs before the widgets are drawn again)."""
    values.update(preset.values())  # the widgets take their state from `values` on the next run
    # A preset describes a layer built from the sidebar: the walkthrough leaves the trained model for it, or the
    # click would change nothing there (the trained model keeps its own router and shape).
    override("trained", False)


_PRESETS_OPEN = "_moeviz_presets_open"  # whether the teacher left the presets expander open (kept across pages)


def _remember_presets_open() -> None:
    st.session_state[_PRESETS_OPEN] = bool(st.session_state.get("presets_expander"))


def _preset_buttons(values: dict) -> None:
    # A page change draws a new expander (widget ids are per page): start it as the teacher left it.
    st.session_state["presets_expander"] = st.session_state.get(_PRESETS_OPEN, False)
    with st.expander("Presets", icon=":material/bookmarks:", key="presets_expander",
                     on_change=_remember_presets_open):
        for preset in PRESETS:
            st.button(preset.name, key=f"preset_{preset.key}", help=preset.description, width="stretch",
                      on_click=apply_preset, args=(values, preset))


def _presenter_settings(state: dict) -> None:
    state["on"] = st.toggle("Presenter mode", value=state["on"], key="presenter_on",
                            help="Larger text and a collapsed sidebar for a projector; the link gets ?present=1.")
    with st.expander("Presenter settings", icon=":material/co_present:"):
        state["hide"] = tuple(st.multiselect("Hide in presenter mode", CONTROL_KEYS, default=list(state["hide"]),
                                             format_func=CONTROL_LABELS.get, key="presenter_hide"))
        state["lock"] = tuple(st.multiselect("Lock in presenter mode", CONTROL_KEYS, default=list(state["lock"]),
                                             format_func=CONTROL_LABELS.get, key="presenter_lock"))


def draw_classroom_tools(values: dict) -> None:
    """Presets, the presenter switch and the link to this view, drawn into the current container. The link is
    the address bar's, redrawn whenever the page writes a value into it later in the run (url.show_link)."""
    state = st.session_state[_STATE]  # read from the link by presenter_state() earlier in this run
    _preset_buttons(values)
    _presenter_settings(state)
    _write_presenter_url(state)
    st.caption("Link to this view (copy with the icon):")
    show_link()


def presenting() -> bool:
    """Whether this run is in presenter mode (pages use it to put the figure first and fold long text)."""
    return bool(st.session_state.get(_STATE, {}).get("on"))


def fold(label: str, icon: str = ":material/notes:"):
    """A container for long text (or a page's inputs): folded into an expander in presenter mode (the figure
    comes first on a projector), drawn in place otherwise. Use as `with fold("Why"): st.markdown(...)`; the
    returned container can be entered again later in the run."""
    return st.expander(label, icon=icon) if presenting() else st.container()


def apply_presenter() -> None:
    """In presenter mode: collapse the sidebar and inject the presenter stylesheet (our own CSS only)."""
    state = st.session_state.get(_STATE)
    if not state or not state["on"]:
        return
    st.set_page_config(initial_sidebar_state="collapsed")
    st.html(f"<style>{presenter_css(state['hide'])}</style>")


STREAMLIT_FONT_PX = 16  # the base font presenter mode replaces with BASE_FONT_PX


def text_scale() -> float:
    """How much presenter mode enlarges text this run (1.0 when off): charts scale their own font sizes by it,
    because Plotly's sizes are in px and do not follow the page's rem."""
    return BASE_FONT_PX / STREAMLIT_FONT_PX if presenting() else 1.0


__all__ = ["presenter_css", "share_url", "parse_keys", "parse_flag", "presenter_state", "presenter_params", "locked",
           "apply_preset", "draw_classroom_tools", "apply_presenter", "presenting", "fold", "CONTROL_KEYS",
           "PRESETS_BY_KEY", "text_scale"]
