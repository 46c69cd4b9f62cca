"""A figure made ready for the screen it is drawn on: readable axis text, and every text size scaled for a projector.

    shown = for_screen(fig, text_scale=1.25)   # a new figure; `fig` itself is left as it was

Why here and not in each figure function: Streamlit's chart theme draws tick labels and axis titles in its own grey
(#808495, 3.7:1 on white: too faint for WCAG's 4.5:1), and subplot axes (xaxis2, ...) only exist once a figure is
built, so one pass over the finished figure reaches every axis. Sizes are scaled on plain dicts and the figure is
rebuilt without Plotly's validation (each validated update costs tens of ms on the shared server).
"""
from __future__ import annotations

import re

import plotly.graph_objects as go

AXIS_INK = "#5A6270"  # tick labels and axis titles: 6.2:1 on white, quieter than the INK of titles and values
_AXIS_KEY = re.compile(r"^[xy]axis\d*$")


def _scaled_fonts(node, scale: float):
    """`node` (a dict/list tree of a figure) with every font's explicit size multiplied by `scale`."""
    if isinstance(node, list):
        return [_scaled_fonts(item, scale) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key.endswith("font") and isinstance(value, dict) and isinstance(value.get("size"), (int, float)):
            value = {**value, "size": round(value["size"] * scale, 2)}
        out[key] = _scaled_fonts(value, scale) if isinstance(value, (dict, list)) and key != "template" else value
    return out


def _axis_colours(layout: dict) -> dict:
    """Every axis of `layout` with tick labels and title in AXIS_INK (an axis's own colour, if set, is kept)."""
    out = dict(layout)
    for key, axis in layout.items():
        if _AXIS_KEY.match(key) and isinstance(axis, dict):
            title = axis.get("title") or {}
            title = {"text": title} if isinstance(title, str) else title
            out[key] = {**axis, "tickfont": {"color": AXIS_INK, **(axis.get("tickfont") or {})},
                        "title": {**title, "font": {"color": AXIS_INK, **(title.get("font") or {})}}}
    for key in ("xaxis", "yaxis"):  # figures without an axis entry still get the theme's: set them too
        out.setdefault(key, {"tickfont": {"color": AXIS_INK}, "title": {"font": {"color": AXIS_INK}}})
    return out


def for_screen(fig: go.Figure, text_scale: float = 1.0) -> go.Figure:
    """A copy of `fig` with readable axis text and, when `text_scale` != 1, every explicit text size scaled:
    layout font, title, axis titles and ticks, colour bars, annotations, legend and each trace's text fonts.

    Sizes the figure leaves unset come from Streamlit's chart theme, which is in rem and so grows with the page's
    base font already; scaling them again would double count."""
    spec = fig.to_plotly_json()
    layout, data = _axis_colours(spec.get("layout") or {}), spec.get("data") or []
    if text_scale != 1:
        layout, data = _scaled_fonts(layout, text_scale), _scaled_fonts(data, text_scale)
    return go.Figure(data=data, layout=layout, _validate=False)
