"""The /glossary page under AppTest: every entry, links only to pages that exist, the health signals."""
from pathlib import Path

import pytest
from google.protobuf import json_format
from streamlit.testing.v1 import AppTest

from moeviz.app.nav import PAGES
from moeviz.glossary import ENTRIES, HEALTH_SIGNALS

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = ("Router", "Gate", "Top-k", "Expert", "Capacity factor", "Dropped slot", "Load balancing loss", "z-loss",
            "Expert collapse", "Expert parallelism", "All-to-all", "Shared expert", "Active vs total parameters",
            "Dropless MoE", "Fine-grained experts", "Node-limited routing", "Routing at inference")
# Where each entry's "see it" link must land: a phrase of the section that shows the term on that page.


def test_glossary_data_covers_the_terms():
    assert tuple(e.term for e in ENTRIES) == REQUIRED
    assert all(e.page is None or e.page == "app.py" or e.page.startswith("pages/") for e in ENTRIES)
    assert len(HEALTH_SIGNALS) >= 4 and all(len(row) == 3 for row in HEALTH_SIGNALS)


def test_page_shows_every_entry_and_links_each_to_its_page():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page("pages/7_glossary.py")
    at.run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    for term in REQUIRED:
        assert f"**{term}**" in text
    labels = {p.path: p.label for p in PAGES}
    assert all(e.page in labels for e in ENTRIES if e.page is not None)  # a link always has a page to land on
    sidebar = {id(link.proto) for link in at.sidebar.page_link}
    see_it = [link.proto.label for link in at.get("page_link") if id(link.proto) not in sidebar]
    assert see_it == [f"See it: {labels[e.page]}" for e in ENTRIES if e.page is not None]
    assert len(at.table[0].value) == len(HEALTH_SIGNALS)


def rendered_text(page: str) -> str:
    """Everything `page` puts on the screen on its first run (text, labels, help, chart titles), lower-cased:
    what a learner following a "see it" link can read there, not what its source files mention."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    if page != "app.py":
        at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    texts = []

    def walk(node):
        if getattr(node, "proto", None) is not None:
            texts.append(json_format.MessageToJson(node.proto, ensure_ascii=False))
        for child in getattr(node, "children", {}).values():
            walk(child)
    walk(at._tree)
    return "\n".join(texts).lower()


@pytest.mark.parametrize("page", sorted({e.page for e in ENTRIES if e.page is not None}))
def test_see_it_links_land_on_a_page_that_shows_the_term(page):
    # A "see it" link must never lead to a page without the thing: each linked page is run once and every
    # entry that links to it is looked up in what it rendered.
    text = rendered_text(page)
    missing = [(e.shown_as or e.term) for e in ENTRIES if e.page == page and (e.shown_as or e.term).lower() not in text]
    assert not missing, f"{page} does not show {missing}"
