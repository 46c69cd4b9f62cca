"""Charts that can be taken home: every figure a page draws is also offered, with the page's other figures, as
one self-contained HTML file from the sidebar ("Figures on this page").

Pages call `chart(fig, key=...)` (or `chart(fig, key=..., where=column)`) instead of `st.plotly_chart`.
`sidebar()` starts a fresh collection each run and draws the download button; the button's data is built only
when clicked (a deferred callable), from the collection that run filled, so a rerun pays nothing for it.
"""
from __future__ import annotations

import re

import streamlit as st

from moeviz.export import figures_html

_FIGURES = "_moeviz_page_figures"


def start_page_figures() -> dict:
    """A new, empty collection for this run (a new dict, so the last run's button keeps its own figures)."""
    figures: dict = {}
    st.session_state[_FIGURES] = figures
    return figures


def chart(fig, key: str | None = None, where=None, **kwargs) -> None:
    """st.plotly_chart(fig) in `where` (default: the current container), remembered for the page download."""
    (where or st).plotly_chart(fig, key=key, **kwargs)
    figures = st.session_state.setdefault(_FIGURES, {})
    title = fig.layout.title.text or key or f"Figure {len(figures) + 1}"
    figures[title if title not in figures else f"{title} ({len(figures) + 1})"] = fig


def figures_download_button(figures: dict, page_title: str) -> None:
    """The sidebar's download of every figure the page draws this run, as one offline HTML page."""
    name = re.sub(r"[^a-z0-9]+", "-", page_title.lower()).strip("-") or "moeviz"
    st.download_button("Figures on this page (HTML)", data=lambda: figures_html(figures, page_title),
                       file_name=f"{name}-figures.html", mime="text/html", key="download_page_figures",
                       icon=":material/download:", on_click="ignore", width="stretch",
                       help="Every chart of this page in one file that opens offline (plotly.js inside).")
