"""Every data table of the app is drawn by `table()`: one way to draw one, with a hint whenever it is wider than
its box.

Streamlit's st.dataframe draws on a canvas (glide-data-grid) that scrolls sideways inside its own box, with a thin
scrollbar on a desktop and none on a touch screen: a learner cannot tell that columns lie to the right. `table()`
works out here how wide the grid will draw the table (`table_width_px`: the grid's own sizing rule on the headers
and cells, in the grid's font) and puts a caption "Swipe the table sideways …" above it, in a keyed container whose
key carries the box width the table needs. The server cannot know the box (the sidebar, st.columns, an expander and
the screen all change it), so the browser decides: the app's stylesheet (`hint_css`, added by moeviz.app.style) makes
each table's wrapper a CSS size container and shows the caption only while that wrapper is narrower than the width
in the key, at any screen width. The caption is our text; cells are never HTML.
"""
from __future__ import annotations

import math
import unicodedata

import pandas as pd
import streamlit as st

from moeviz.app.presenter import text_scale

HINT = "Swipe the table sideways for more columns →"

# The grid's sizing rule (Streamlit 1.67's theme for glide-data-grid): a column is as wide as its header or its
# widest sampled cell, text plus CELL_PADDING_PX on each side, from MIN_COLUMN_PX to MAX_AUTO_COLUMN_PX; a column
# given a width in column_config keeps it. Headers and cells use the body font, Source Sans, at FONT_PX.
FONT_PX = 14
CELL_PADDING_PX = 8
MIN_COLUMN_PX, MAX_AUTO_COLUMN_PX = 50, 500
CONFIG_WIDTHS = {"small": 75, "medium": 200, "large": 400}  # column_config's named widths
BUBBLE_PADDING_PX, BUBBLE_MARGIN_PX = 8, 2  # each item of a list cell is a bubble
SAMPLE_ROWS = 10  # the grid measures the first 10 rows, or the first 9 and the last of a longer table

# The hint's rule compares the table with its own box, whatever holds it (the main column beside or without the
# sidebar, a column of st.columns, an expander): the table's wrapper is a CSS size container, and a container query
# shows the hint when the wrapper is narrower than the table plus the grid's 1-px border on each side. One rule per
# HINT_STEP_PX: the width the table needs is rounded up, so the hint may show in a box up to HINT_STEP_PX - 1 px wider
# than needed, never missing in one too narrow.
GRID_BORDER_PX = 2
NARROWEST_BOX_PX = 120  # two of the grid's narrowest columns fit every box the app draws: no hint
WIDEST_STEP_PX = 3840  # a wider table counts as this wide (a box this wide needs a screen of over 4000 px)
HINT_STEP_PX = 10  # the needed box width is rounded up to this step (one CSS rule per step)

# Source Sans advance widths in thousandths of an em, for ASCII 32 (space) to 126 (~) and the other characters our
# tables print, measured in Chromium with canvas measureText. Any other character counts OTHER_EM (a full em when
# East Asian wide).
_ASCII_EM = (
    200, 289, 426, 497, 497, 824, 609, 249, 303, 303, 418, 497, 249, 311, 249, 350,  # space to /
    *(497,) * 10, 249, 249, 497, 497, 497, 425, 847,  # 0-9 : ; < = > ? @
    543, 588, 571, 615, 527, 494, 617, 652, 263, 479, 579, 486, 727, 647, 664, 566, 664, 569, 534, 536, 645, 515,
    786, 513, 476, 539,  # A-Z
    303, 350, 303, 497, 500, 542,  # [ \ ] ^ _ `
    504, 553, 456, 555, 496, 292, 504, 544, 246, 247, 495, 255, 829, 547, 542, 555, 555, 347, 419, 338, 544, 467,
    719, 446, 467, 425,  # a-z
    303, 241, 303, 497)  # { | } ~
CHAR_EM = {chr(32 + i): em for i, em in enumerate(_ASCII_EM)} | {
    "α": 560, "Δ": 588, "÷": 497, "×": 497, "–": 480, "—": 800, "→": 619, "←": 619, "·": 249, "…": 948, "≈": 497,
    "±": 497, "≤": 497, "≥": 497, "°": 331, "µ": 562, "␣": 635, "⏎": 838, "↵": 838}
OTHER_EM = 600


def text_px(text: str) -> float:
    """The width of `text` in the grid's font."""
    return sum(_char_em(c) for c in text) * FONT_PX / 1000


def _char_em(c: str) -> int:
    if c in CHAR_EM:
        return CHAR_EM[c]
    if unicodedata.combining(c):
        return 0
    return 1000 if unicodedata.east_asian_width(c) in "WF" else OTHER_EM


def _shown(value, number_format: str | None) -> str:
    """A cell's text as the grid prints it (numbers: the column's printf format, else at most 4 decimals)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "None"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if number_format == "percent":
        return f"{value * 100:.2f}%"
    if number_format and "%" in number_format:
        return number_format % value
    return str(value) if isinstance(value, int) else f"{value:.4f}".rstrip("0").rstrip(".")


def _cell_px(value, number_format: str | None) -> float:
    if isinstance(value, (list, tuple)):  # bubbles side by side
        if not value:
            return 2 * CELL_PADDING_PX
        return (sum(text_px(str(v)) + 2 * BUBBLE_PADDING_PX + BUBBLE_MARGIN_PX for v in value)
                + 2 * CELL_PADDING_PX - BUBBLE_MARGIN_PX)
    return text_px(_shown(value, number_format)) + 2 * CELL_PADDING_PX


def _sampled(cells: list) -> list:
    return cells if len(cells) <= SAMPLE_ROWS else [*cells[:SAMPLE_ROWS - 1], cells[-1]]


def column_px(header: str, cells: list, config: dict | str | None = None) -> int:
    """One column's width as the grid sizes it: header or widest sampled cell (beyond 5 samples, a cell twice
    the mean width or more is left out, as the grid does), within the grid's bounds, or column_config's width."""
    config = config if isinstance(config, dict) else {"label": config} if config else {}
    width = config.get("width")
    if isinstance(width, int) or width in CONFIG_WIDTHS:
        return CONFIG_WIDTHS.get(width, width)
    number_format = (config.get("type_config") or {}).get("format")
    sizes = [_cell_px(v, number_format) for v in _sampled(cells)]
    if len(sizes) > 5:
        mean = sum(sizes) / len(sizes)
        sizes = [s for s in sizes if s < 2 * mean]
    need = max([text_px(config.get("label") or header) + 2 * CELL_PADDING_PX, *sizes])
    return max(MIN_COLUMN_PX, min(MAX_AUTO_COLUMN_PX, math.ceil(need)))


def table_width_px(data, column_config: dict | None = None, column_order=None, hide_index: bool | None = None) -> int:
    """The width the grid draws `data` at (the columns' natural widths, before it stretches them to its box)."""
    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    config = column_config or {}
    names = list(column_order) if column_order is not None else [str(c) for c in frame.columns]
    columns = {str(c): frame[c].tolist() for c in frame.columns}
    width = sum(column_px(name, columns[name], config.get(name)) for name in names if name in columns)
    # Streamlit hides the index of list data by default, and shows a DataFrame's
    if hide_index is False or (hide_index is None and isinstance(data, pd.DataFrame)):
        width += column_px(str(frame.index.name or ""), [str(i) for i in frame.index])
    return width


def needed_box_px(width_px: int) -> float:
    """The narrowest box (px) that holds a table `width_px` wide without scrolling; presenter mode's larger font
    scales the table."""
    return width_px * text_scale() + GRID_BORDER_PX


def hint_step(box_px: float) -> int | None:
    """The box width below which the hint shows (`box_px` rounded up to HINT_STEP_PX, at most WIDEST_STEP_PX), or
    None when the table fits every box."""
    if box_px <= NARROWEST_BOX_PX:
        return None
    return min(WIDEST_STEP_PX, math.ceil(box_px / HINT_STEP_PX) * HINT_STEP_PX)


def _hint_selector(prefix: str) -> str:
    # The keyed container and the layout wrapper Streamlit puts around it: a hidden container in a shown wrapper
    # would still take the column's gap (1rem) above the table. (:is keeps the wrapper's specificity, so that a
    # rule showing the hint outranks the one hiding it.)
    return (f':is([class*="st-key-{prefix}"],'
            f'[data-testid="stLayoutWrapper"]:has(>[class*="st-key-{prefix}"]))')


def hint_css() -> str:
    """Every swipe hint hidden; each table's wrapper a size container; each hint shown while its wrapper is
    narrower than the width in its key."""
    steps = range(NARROWEST_BOX_PX + HINT_STEP_PX, WIDEST_STEP_PX + 1, HINT_STEP_PX)
    return " ".join([f"{_hint_selector('swipe_')} {{ display: none !important; }}",
                     # the hint sits close to its table; the wrapper is the box the container queries measure
                     '[class*="st-key-table_"] { gap: 0.25rem; container-type: inline-size; }',
                     *(f"@container (max-width:{step - 0.02:g}px){{{_hint_selector(f'swipe_{step}_')}"
                       "{display:flex!important}}" for step in steps)])


MAX_ROWS_SHOWN = 40  # all_rows_height: a table up to this long shows every row; a longer one scrolls (ten rows)


def all_rows_height(rows: int) -> str:
    """st.dataframe's `height` for a table whose rows should all show without scrolling: "content" (every row)
    up to MAX_ROWS_SHOWN rows, else "auto" (about ten rows: its caption should then say to scroll)."""
    return "content" if rows <= MAX_ROWS_SHOWN else "auto"


def table(data, key: str, where=None, **kwargs) -> None:
    """st.dataframe(data, **kwargs) in `where` (default: the current container), in a container keyed
    `table_<key>`; above it, unless it fits every box, the swipe hint, shown only while its box is too narrow for
    it (on any screen)."""
    width = table_width_px(data, kwargs.get("column_config"), kwargs.get("column_order"), kwargs.get("hide_index"))
    step = hint_step(needed_box_px(width))
    with (where or st).container(key=f"table_{key}"):
        if step is not None:
            with st.container(key=f"swipe_{step}_{key}"):
                st.caption(HINT)
        st.dataframe(data, **kwargs)


__all__ = ["table", "all_rows_height", "MAX_ROWS_SHOWN", "table_width_px", "needed_box_px", "hint_step", "hint_css",
           "HINT"]
