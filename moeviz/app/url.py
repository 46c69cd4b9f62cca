"""The link is the state: values live in session state, start from the URL, and are written back to it.

Why not `bind="query-params"`: combined with the file-based pages it lost values on a page change (docs/architecture.md).
The pattern here: on a session's first run, read the URL into a session-state dict; widgets take `value=` from
that dict; after the widgets, the dict goes back into `st.query_params`, and `st.page_link` carries it to the
next page. Page-local values (`text`, `token`, `step`, ...) use `url_value` / `set_url_value` the same way.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import streamlit as st

from moeviz.app.params import Parser, read_param, read_shared, shared_url_params, url_text

_SHARED = "_moeviz_shared"  # session-state key of the shared controls' dict
_LOCAL = "_moeviz_local"  # session-state key of page-local values, so they survive a visit to another page
_LINK_SLOT = "_moeviz_link_slot"  # this run's place of "Link to this view" (the sidebar's), redrawn on each write


def shared_values() -> dict:
    """The shared controls' current values; seeded from the link (with warnings) on the session's first run."""
    if _SHARED not in st.session_state:
        values, warnings = read_shared(st.query_params.get_all)
        st.session_state[_SHARED] = values
        for warning in warnings:
            st.warning(warning, icon=":material/link_off:")
    return st.session_state[_SHARED]


def link_params() -> dict[str, str]:
    """What an extra st.page_link must carry (query_params=) so the shared controls survive the click."""
    return shared_url_params(shared_values())


def write_url(values: dict[str, Any]) -> None:
    """Mirror `values` into the address bar; untouched keys stay. Writes only what changed, and redraws the
    link to this view (see show_link) so that it is always the link of what is on screen."""
    for key, value in values.items():
        text = url_text(value)
        if st.query_params.get_all(key) != [text]:
            st.query_params[key] = text
    _draw_link()


def share_url(current_url: str | None, query_params: dict[str, str]) -> str:
    """The full address of this view: the browser's URL (scheme, host, page path) with `query_params`."""
    parts = urlsplit(current_url or "")
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query_params), ""))


def forget_link() -> None:
    """At the start of a run (the sidebar's first act): the last run's link place is gone."""
    st.session_state.pop(_LINK_SLOT, None)


def show_link() -> None:
    """Draw "the link to this view" here, and redraw it on every later write to the link in this run.

    The page writes its own values (text, token, step, ...) into the link after the sidebar is drawn, and the
    walkthrough's stepper (a fragment) writes the step on its own reruns: a link drawn once, in the sidebar,
    lagged one run behind (step 2 shown after moving to step 4, no text or token on a first visit). Each write
    redraws it instead (a fragment may fill a container from outside it when it also did on the full run)."""
    st.session_state[_LINK_SLOT] = st.empty()
    _draw_link()


def _draw_link() -> None:
    slot = st.session_state.get(_LINK_SLOT)
    if slot is not None:
        slot.code(share_url(st.context.url, st.query_params.to_dict()), language=None, wrap_lines=True)


def url_value(key: str, default: Any, parse: Parser) -> Any:
    """A page-local value: from the link if it has `key` (a bad value warns and gives `default`),
    else the value this session last set on any page, else `default`.

    Pair it with `set_url_value(key, value)` once the widget has answered, e.g.
        text = st.text_input("Sentence", value=url_value("text", DEFAULT, parse_text(300)), key="text")
        set_url_value("text", text)
    """
    raw_values = st.query_params.get_all(key)
    if raw_values:
        result = read_param(key, raw_values, parse, default)
        if result.warning:
            st.warning(result.warning, icon=":material/link_off:")
        return result.value
    return st.session_state.get(_LOCAL, {}).get(key, default)


def linked(widget, label: str, options, *, key: str, default: Any, parse: Parser, **kwargs) -> Any:
    """A page control whose value lives in the link, in one call: `widget` is a choice widget of a container
    (`st.radio`, `column.select_slider`, `st.selectbox`, ...). It starts from the link (a bad value warns and
    gives `default`) or this session's last value, and its answer goes back into the link. Widget key = URL key.

        policy = linked(left.radio, "Who loses?", DROP_POLICIES, key="drop_policy", default="position",
                        parse=parse_choice(DROP_POLICIES), horizontal=True)
    """
    options = list(options)
    start = url_value(key, default, parse)
    start = start if start in options else default
    by_index = widget.__name__ in ("radio", "selectbox")  # these take an index, the sliders a value
    value = widget(label, options, key=key, **({"index": options.index(start)} if by_index else {"value": start}),
                   **kwargs)
    set_url_value(key, value)
    return value


def override(key: str, value: Any) -> None:
    """From a callback: give the page-local control `key` a new value everywhere it is kept (the link if it has
    the key, this session's memory, and the widget's own state, so the browser shows it too)."""
    st.session_state.setdefault(_LOCAL, {})[key] = value
    if key in st.query_params:
        st.query_params[key] = url_text(value)
    if key in st.session_state:
        st.session_state[key] = value


def set_url_value(key: str, value: Any) -> None:
    """Remember a page-local value for this session and show it in the link."""
    st.session_state.setdefault(_LOCAL, {})[key] = value
    write_url({key: value})
