"""The app's pages (URLs and what each teaches: README's page table) and the sidebar links to them.

Each link carries the shared controls as query parameters: that is how values survive a page change.
"""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st


@dataclass(frozen=True)
class PageInfo:
    path: str  # relative to app.py, as st.page_link and AppTest.switch_page want it
    label: str
    icon: str
    url: str  # the URL path Streamlit gives the file (name without the number prefix)


PAGES = (
    PageInfo("app.py", "Walkthrough: one token", ":material/route:", "/"),
    PageInfo("pages/1_heatmap.py", "Router heatmap", ":material/grid_on:", "/heatmap"),
    PageInfo("pages/2_balance.py", "Load balancing", ":material/balance:", "/balance"),
    PageInfo("pages/3_parallel.py", "Capacity & parallelism", ":material/hub:", "/parallel"),
    PageInfo("pages/4_compute.py", "Sparse vs dense compute", ":material/speed:", "/compute"),
    PageInfo("pages/5_variants.py", "Router variants", ":material/compare_arrows:", "/variants"),
    PageInfo("pages/6_quiz.py", "Quiz", ":material/quiz:", "/quiz"),
    PageInfo("pages/7_glossary.py", "Glossary", ":material/menu_book:", "/glossary"),
    PageInfo("pages/8_replicas.py", "Replicas (EPLB)", ":material/content_copy:", "/replicas"),
)


def draw_links(query_params: dict[str, str]) -> None:
    """One st.page_link per page, each carrying `query_params`."""
    for page in PAGES:
        st.page_link(page.path, label=page.label, icon=page.icon, query_params=query_params)
