"""The /glossary page under AppTest: every entry, links only to pages that exist, the health signals."""
import re
from pathlib import Path

import pytest

from streamlit.testing.v1 import AppTest

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


def page_source(page: str) -> str:
    """A page's own text: its file and the moeviz.app modules it draws with (followed through). Not the core:
    a core docstring that mentions a term does not put it on a screen."""
    seen, todo, texts = set(), [ROOT / page], []
    while todo:
        path = todo.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        text = path.read_text(encoding="utf-8")
        texts.append(text)
        for module in re.findall(r"^\s*(?:from|import) (moeviz(?:\.\w+)*)", text, flags=re.M):
            target = ROOT / (module.replace(".", "/") + ".py")
            if module.startswith("moeviz.app"):
                todo.append(target)
    return "\n".join(texts).lower()


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.page is not None], ids=lambda e: e.term)
def test_see_it_links_land_on_a_page_that_shows_the_term(entry):
    # Fails while a linked page does not show its term (z-loss on /balance and the shared expert on /compute
    # wait for their sections): a "see it" link must never lead to a page without the thing.
    words = (entry.shown_as or entry.term).lower()
    assert words in page_source(entry.page), f"{entry.page} never mentions {words!r}"
