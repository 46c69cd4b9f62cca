"""The app's own stylesheet (rules Streamlit's theme cannot express), added once per run by `sidebar()`.

Only our CSS, never user text. Presenter mode adds its own rules on top (moeviz.app.presenter.presenter_css).
"""
from __future__ import annotations

import streamlit as st

from moeviz.app.knobs import idle_css
from moeviz.app.tables import hint_css

APP_CSS = "\n".join((
    # Streamlit only slides a collapsed sidebar off screen: its controls would stay in the Tab order, and a keyboard
    # user could change the layer without seeing it. visibility:hidden takes them out of the Tab order too: on the
    # content box (Chromium lets the keyboard focus a scrolling box) and on every descendant, as some of Streamlit's
    # own (the help icons) set visibility:visible and would stay reachable.
    '[data-testid="stSidebar"][data-collapsed="true"] [data-testid="stSidebarContent"], '
    '[data-testid="stSidebar"][data-collapsed="true"] [data-testid="stSidebarContent"] * '
    '{ visibility: hidden !important; }',
    # Streamlit leaves 6rem above the page's title; 4rem still clears its 3.75rem header bar, and the walkthrough's
    # step content (a reader found it ~1000 px down at 1920 px) moves up with every page's title.
    '[data-testid="stMainBlockContainer"] { padding-top: 4rem; }',
    # The walkthrough's step heading is an h2, as it follows the page's h1, but beside Prev / Next it keeps the
    # size of an h4.
    ".st-key-step_title h2 { font-size: 1.5rem; }",
    # The step names wrap onto two rows at 1024 px; the segments overlap their borders by 1 px, so a full first row
    # ended 1 px past the column and lost its right border. One pixel of room keeps every border drawn.
    '.st-key-step [role="radiogroup"] { padding-right: 1px; }',
    # On a phone Streamlit stacks columns: the walkthrough's Prev, step heading and Next became three full-width
    # rows, Next a screen away from Prev. There the heading takes the first row and Prev and Next share the second.
    "@media (max-width: 640px) { "
    '.st-key-step_nav [data-testid="stHorizontalBlock"] { flex-wrap: wrap; row-gap: 0.5rem; } '
    '.st-key-step_nav [data-testid="stColumn"] { min-width: 0 !important; flex: 1 1 40% !important; } '
    '.st-key-step_nav [data-testid="stColumn"]:nth-child(2) { order: -1; flex: 1 1 100% !important; } }',
    # A part inside a numbered section (app.subsection) is an h3 kept well below the sections' h2: at Streamlit's
    # sizes a newcomer could not tell "2 · Measured time" from the unnumbered part under it.
    '[class*="st-key-subpart_"] h3 { font-size: 1.15rem; font-weight: 600; }',
    # A worked formula (st.latex) wider than a phone scrolls sideways instead of losing its result past the edge.
    '[data-testid="stMarkdownContainer"] .katex-display { overflow-x: auto; overflow-y: hidden; }',
    # KaTeX's aligned rows (step 2's formula on two lines) overhang their box by ~2 px: without this room the box
    # scrolled by those 2 px, and a scroll box that a keyboard cannot reach fails axe's scrollable-region-focusable.
    '[data-testid="stMarkdownContainer"] .katex-display > .katex { padding-right: 6px; }',
    # A sidebar knob that does not act on this page is greyed while its reason is shown (moeviz.app.knobs).
    idle_css(),
    # Streamlit's inline code inside a caption is pale green at 10.5 px: 3:1 on white (axe). The caption's own grey.
    '[data-testid="stCaptionContainer"] code { color: inherit; }',
    # A link in a caption is drawn at the caption's 60 % opacity: the primary blue falls to 2.96:1 on white (axe).
    # Such a caption keeps its grey as a colour instead of an opacity, and its link a darker blue (7:1).
    '[data-testid="stCaptionContainer"]:has(a) { opacity: 1; color: rgba(11, 17, 23, 0.6); }',
    '[data-testid="stCaptionContainer"] a { color: #005a8c; }',
    # /parallel's drop-policy radio is disabled while nothing can drop (its reason is printed under it); Streamlit
    # greys a disabled widget's text to 2.6:1 (axe). The circles stay greyed; the words stay readable (7.9:1).
    '.st-key-drop_policy p { color: #4b5058 !important; }',
    # Streamlit caps a static table's cell text at 400 px: at 1920 px the glossary's signals table wrapped each
    # sentence in half its column, a tall table with empty space beside every cell. The cell's width rules instead.
    '[data-testid="stTable"] td [data-testid="stMarkdownContainer"] { max-width: none; }',
    # A table wider than a phone's screen says so above it, only on a screen too narrow for it (moeviz.app.tables):
    # the data grid shows no scrollbar on a touch screen.
    hint_css(),
))


def apply_style() -> None:
    st.html(f"<style>{APP_CSS}</style>")


def section(title: str) -> None:
    """A numbered section's heading ("2 · …"): an h2 with a rule under it, which no part inside a section has."""
    st.header(title, divider="gray")


def subsection(title: str, key: str) -> None:
    """A part of a numbered section: an h3 (the heading order stays h1 > h2 > h3 for screen readers), drawn
    smaller than the sections' headings by APP_CSS, so that it reads as part of the section above."""
    with st.container(key=f"subpart_{key}"):
        st.subheader(title)
