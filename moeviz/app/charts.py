"""Every chart of the app goes through `chart()`: one place makes it readable for everyone and keeps it for the
download.

Pages call `chart(fig, key=...)` (or `chart(fig, key=..., where=column)`) instead of `st.plotly_chart`. It
- names the chart for screen readers (`alt=`, else the figure's title, else the key: an aria-label on the chart),
- puts the chart's numbers next to it as text, in a folded "Numbers" expander (moeviz.figures.numbers),
- draws axis text dark enough to read and, in presenter mode, every text size scaled with the page's larger font
  (moeviz.figures.screen; on a copy, the page's figure is left as it was),
- remembers the figure for the sidebar's "Figures on this page" HTML download. `sidebar()` starts a fresh
  collection each run and draws the button; its data is built only when clicked (a deferred callable), from the
  collection that run filled, so a rerun pays nothing for it.
"""
from __future__ import annotations

import re

import streamlit as st

from moeviz.app.presenter import text_scale
from moeviz.app.tables import table
from moeviz.export import figures_html
from moeviz.figures.numbers import figure_tables, plain
from moeviz.figures.screen import for_screen
from moeviz.text import escape_markdown

_FIGURES = "_moeviz_page_figures"


def start_page_figures() -> dict:
    """A new, empty collection for this run (a new dict, so the last run's button keeps its own figures)."""
    figures: dict = {}
    st.session_state[_FIGURES] = figures
    return figures


# A short, narrow table is plain HTML (read cell by cell, never scrolls sideways); a bigger one is Streamlit's data
# grid, which scrolls inside itself and is reachable by keyboard (an HTML table that overflows its column would
# be a scroll box the keyboard cannot reach).
TABLE_CELLS, TABLE_COLUMNS = 600, 4


def chart(fig, key: str | None = None, where=None, alt: str | None = None, numbers: bool = True, **kwargs) -> None:
    """st.plotly_chart(fig) in `where` (default: the current container), named `alt` (default: its title), with
    its numbers in a folded table below (unless `numbers=False`), remembered for the page download."""
    container = where or st
    figures = st.session_state.setdefault(_FIGURES, {})
    title = plain(fig.layout.title.text or "") or key or f"Figure {len(figures) + 1}"
    container.plotly_chart(for_screen(fig, text_scale()), key=key, alt=alt or title, **kwargs)
    if numbers and fig.data:
        # (a keyed chart keys its expander; else Streamlit derives a stable id from the label: chart titles on one
        # page differ, and a fragment rerun must find the same expander again)
        numbers_table(fig, title, container, key=f"numbers_{key}" if key else None)
    figures[title if title not in figures else f"{title} ({len(figures) + 1})"] = fig


def numbers_table(fig, title: str, where=None, key: str | None = None) -> None:
    """The figure's numbers as text, in a folded expander: a screen reader reads a table, not the SVG.

    The tables are built only while the expander is open (opening it reruns the page): on a page of many charts,
    building them all on every rerun cost more than the rest of the rerun (measured on /heatmap: 140 ms median
    with them, 89 ms without)."""
    label = title if len(title) <= 60 else title[:57].rstrip() + "…"
    box = (where or st).expander(f"Numbers: {escape_markdown(label)}", icon=":material/table:", key=key,
                                 on_change="rerun")
    if not box.open:
        return
    tables = figure_tables(fig)
    with box:
        if not tables:
            st.caption("This figure draws no numbers.")
        for i, numbers in enumerate(tables):
            if len(tables) > 1:
                st.caption(escape_markdown(numbers.caption))
            if numbers.frame.size <= TABLE_CELLS and numbers.frame.shape[1] <= TABLE_COLUMNS:
                st.table(numbers.frame)
            else:
                table(numbers.frame, key=f"{key or title}_{i}")


def figures_download_button(figures: dict, page_title: str) -> None:
    """The sidebar's download of every figure the page draws this run, as one offline HTML page."""
    name = re.sub(r"[^a-z0-9]+", "-", page_title.lower()).strip("-") or "moeviz"
    st.download_button("Figures on this page (HTML)", data=lambda: figures_html(figures, page_title),
                       file_name=f"{name}-figures.html", mime="text/html", key="download_page_figures",
                       icon=":material/download:", on_click="ignore", width="stretch",
                       help="Every chart of this page in one file that opens offline (plotly.js inside).")
