"""The /glossary page under AppTest: every entry, links only to pages that exist, the health signals."""
from pathlib import Path

from streamlit.testing.v1 import AppTest

from moeviz.glossary import ENTRIES, HEALTH_SIGNALS

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = ("Router", "Gate", "Top-k", "Expert", "Capacity factor", "Dropped slot", "Load balancing loss", "z-loss",
            "Expert collapse", "Expert parallelism", "All-to-all", "Shared expert", "Active vs total parameters",
            "Dropless MoE", "Fine-grained experts", "Node-limited routing", "Routing at inference")
# Where each entry's "see it" link must land: a phrase of the section that shows the term on that page.
SHOWN_BY = {"z-loss": "Router z-loss", "Shared expert": "Fine-grained and shared experts",
            "Fine-grained experts": "Fine-grained and shared experts",
            "Dropless MoE": "Dropless or capacity: the same batch both ways",
            "Node-limited routing": "each token on at most M devices",
            "Routing at inference": "Routing at inference: a token's output can depend on its batch"}


def test_glossary_data_covers_the_terms():
    assert tuple(e.term for e in ENTRIES) == REQUIRED
    assert all(e.page is None or e.page == "app.py" or e.page.startswith("pages/") for e in ENTRIES)
    assert len(HEALTH_SIGNALS) >= 4 and all(len(row) == 3 for row in HEALTH_SIGNALS)


def test_page_shows_entries_and_links_only_existing_pages():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page("pages/7_glossary.py")
    at.run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    for term in REQUIRED:
        assert f"**{term}**" in text
    missing = [e for e in ENTRIES if e.page is not None and not (ROOT / e.page).is_file()]
    notes = [c.value for c in at.caption if "not available" in c.value]
    assert len(notes) == len(missing)
    assert len(at.table[0].value) == len(HEALTH_SIGNALS)


def test_links_land_on_the_section_that_shows_the_term():
    pages = {e.term: e.page for e in ENTRIES}
    for term, heading in SHOWN_BY.items():
        assert heading in (ROOT / pages[term]).read_text(), (term, pages[term])
